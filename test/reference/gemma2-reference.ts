// Float64 reference forward pass of Hugging Face's Gemma2ForCausalLM (eager attention), written from
// transformers/models/gemma2/modeling_gemma2.py. Activations are flat row-major [positions, features] arrays.
import type { Gemma2Config } from '../../src/checkpoint/config.js';

export type Weights = (name: string) => Float64Array;

export interface ReferenceOptions {
  attnSoftcap?: boolean;
  finalSoftcap?: boolean;
  slidingWindow?: boolean;
  slidingParity?: 'even' | 'odd';
  queryScale?: number;
}

export interface ReferenceResult {
  logits: Float64Array[];
  maxAbsAttnScore: number;
  maxAbsFinalLogit: number;
}

interface Settings {
  attnCap: number | null;
  finalCap: number | null;
  isSliding: (layer: number) => boolean;
  scale: number;
}

interface AttentionStats {
  maxAbsScore: number;
}

function settingsFor(config: Gemma2Config, options: ReferenceOptions): Settings {
  const parity = options.slidingParity === 'odd' ? 1 : 0;
  const windowed = options.slidingWindow ?? true;
  return {
    attnCap: (options.attnSoftcap ?? true) ? config.attn_logit_softcapping : null,
    finalCap: (options.finalSoftcap ?? true) ? config.final_logit_softcapping : null,
    isSliding: (layer) => windowed && layer % 2 === parity,
    scale: options.queryScale ?? config.query_pre_attn_scalar ** -0.5,
  };
}

function tensor(weights: Weights, name: string, length: number): Float64Array {
  const t = weights(name);
  if (t.length !== length) throw new Error(`${name}: expected ${length} values, got ${t.length}`);
  return t;
}

function softcap(x: number, cap: number | null): number {
  return cap === null ? x : cap * Math.tanh(x / cap);
}

function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** y = x · wᵀ with w in HF layout [outF, inF]; weight rows outermost so each row is read once. */
function linear(x: Float64Array, rows: number, w: Float64Array, inF: number, outF: number): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let o = 0; o < outF; o++) {
    const wo = o * inF;
    for (let r = 0; r < rows; r++) {
      const xr = r * inF;
      let acc = 0;
      for (let k = 0; k < inF; k++) acc += x[xr + k] * w[wo + k];
      y[r * outF + o] = acc;
    }
  }
  return y;
}

/** Gemma2RMSNorm: the stored weight is an offset, the effective scale is 1 + w. */
function rmsNorm(x: Float64Array, dim: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length; r += dim) {
    let sq = 0;
    for (let k = 0; k < dim; k++) sq += x[r + k] * x[r + k];
    const inv = 1 / Math.sqrt(sq / dim + eps);
    for (let k = 0; k < dim; k++) y[r + k] = x[r + k] * inv * (1 + w[k]);
  }
  return y;
}

function addInPlace(h: Float64Array, delta: Float64Array): void {
  for (let k = 0; k < h.length; k++) h[k] += delta[k];
}

/** Half-split (rotate_half) RoPE over every head of x [S, heads*hd], position = row index. */
function rope(x: Float64Array, rows: number, heads: number, hd: number, theta: number): void {
  const half = hd / 2;
  for (let p = 0; p < rows; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p / theta ** ((2 * j) / hd);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = (p * heads + h) * hd;
        const a = x[base + j];
        const b = x[base + j + half];
        x[base + j] = a * cos - b * sin;
        x[base + j + half] = b * cos + a * sin;
      }
    }
  }
}

/** Eager attention: scale, soft-cap, then mask (masked keys get exactly zero weight, as exp(min_float) does). */
function attention(
  config: Gemma2Config, q: Float64Array, k: Float64Array, v: Float64Array, rows: number,
  sliding: boolean, settings: Settings, stats: AttentionStats,
): Float64Array {
  const { num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd } = config;
  const group = nh / kvh;
  const out = new Float64Array(rows * nh * hd);
  const scores = new Float64Array(rows);
  for (let h = 0; h < nh; h++) {
    const kvOff = Math.floor(h / group) * hd;
    for (let p = 0; p < rows; p++) {
      const qOff = (p * nh + h) * hd;
      const first = sliding ? Math.max(0, p - config.sliding_window + 1) : 0;
      let max = -Infinity;
      for (let j = first; j <= p; j++) {
        const kOff = j * kvh * hd + kvOff;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += q[qOff + d] * k[kOff + d];
        const s = dot * settings.scale;
        stats.maxAbsScore = Math.max(stats.maxAbsScore, Math.abs(s));
        scores[j] = softcap(s, settings.attnCap);
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = first; j <= p; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let j = first; j <= p; j++) {
        const weight = scores[j] / sum;
        const vOff = j * kvh * hd + kvOff;
        for (let d = 0; d < hd; d++) out[qOff + d] += weight * v[vOff + d];
      }
    }
  }
  return out;
}

function mlp(config: Gemma2Config, x: Float64Array, rows: number, weights: Weights, prefix: string): Float64Array {
  const { hidden_size: hidden, intermediate_size: inter } = config;
  const gate = linear(x, rows, tensor(weights, `${prefix}.gate_proj.weight`, inter * hidden), hidden, inter);
  const up = linear(x, rows, tensor(weights, `${prefix}.up_proj.weight`, inter * hidden), hidden, inter);
  for (let k = 0; k < gate.length; k++) gate[k] = geluTanh(gate[k]) * up[k];
  return linear(gate, rows, tensor(weights, `${prefix}.down_proj.weight`, hidden * inter), inter, hidden);
}

/** One Gemma2DecoderLayer; updates the residual stream h in place. */
function decoderLayer(
  config: Gemma2Config, weights: Weights, layer: number, h: Float64Array, rows: number,
  settings: Settings, stats: AttentionStats,
): void {
  const { hidden_size: hidden, num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd } = config;
  const eps = config.rms_norm_eps;
  const prefix = `model.layers.${layer}`;
  const norm = (name: string): Float64Array => tensor(weights, `${prefix}.${name}.weight`, hidden);
  const proj = (name: string, outF: number, inF: number): Float64Array =>
    tensor(weights, `${prefix}.self_attn.${name}.weight`, outF * inF);

  const x = rmsNorm(h, hidden, norm('input_layernorm'), eps);
  const q = linear(x, rows, proj('q_proj', nh * hd, hidden), hidden, nh * hd);
  const k = linear(x, rows, proj('k_proj', kvh * hd, hidden), hidden, kvh * hd);
  const v = linear(x, rows, proj('v_proj', kvh * hd, hidden), hidden, kvh * hd);
  rope(q, rows, nh, hd, config.rope_theta);
  rope(k, rows, kvh, hd, config.rope_theta);
  const ctx = attention(config, q, k, v, rows, settings.isSliding(layer), settings, stats);
  const a = linear(ctx, rows, proj('o_proj', hidden, nh * hd), nh * hd, hidden);
  addInPlace(h, rmsNorm(a, hidden, norm('post_attention_layernorm'), eps));

  const m = mlp(config, rmsNorm(h, hidden, norm('pre_feedforward_layernorm'), eps), rows, weights, `${prefix}.mlp`);
  addInPlace(h, rmsNorm(m, hidden, norm('post_feedforward_layernorm'), eps));
}

export function referenceForward(
  config: Gemma2Config, weights: Weights, inputIds: number[], options: ReferenceOptions = {},
): ReferenceResult {
  const { hidden_size: hidden, vocab_size: vocab } = config;
  const rows = inputIds.length;
  const settings = settingsFor(config, options);
  const embed = tensor(weights, 'model.embed_tokens.weight', vocab * hidden);

  // HF builds the normalizer as a tensor in the compute dtype; the exported graph computes in fp32.
  const embedScale = Math.fround(Math.sqrt(hidden));
  const h = new Float64Array(rows * hidden);
  inputIds.forEach((id, p) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`token id ${id} out of range`);
    for (let k = 0; k < hidden; k++) h[p * hidden + k] = embed[id * hidden + k] * embedScale;
  });

  const stats: AttentionStats = { maxAbsScore: 0 };
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    decoderLayer(config, weights, layer, h, rows, settings, stats);
  }

  const normed = rmsNorm(h, hidden, tensor(weights, 'model.norm.weight', hidden), config.rms_norm_eps);
  const raw = linear(normed, rows, embed, hidden, vocab);
  let maxAbsFinalLogit = 0;
  const logits: Float64Array[] = [];
  for (let p = 0; p < rows; p++) {
    const row = raw.slice(p * vocab, (p + 1) * vocab);
    for (let t = 0; t < vocab; t++) {
      maxAbsFinalLogit = Math.max(maxAbsFinalLogit, Math.abs(row[t]));
      row[t] = softcap(row[t], settings.finalCap);
    }
    logits.push(row);
  }
  return { logits, maxAbsAttnScore: stats.maxAbsScore, maxAbsFinalLogit };
}
