import { attnWeight } from '../checkpoint/tensor-names.js';
import { int, ints } from './proto.js';
import { linear, linearWeights, softcap, type BuildContext } from './blocks.js';
import { newKey, newValue, pastKey, pastValue, POSITION_IDS } from './io-names.js';

export interface RotaryCaches {
  cos: string;
  sin: string;
}

/** Boolean [S, T] visibility of the layer's keys from each new query: one for sliding layers, one for global ones. */
export interface Masks {
  sliding?: string;
  global?: string;
}

/**
 * cos/sin(pos · inv_freq) as [max_position_embeddings, head_dim / 2], computed in fp32
 * step by step as Hugging Face's Gemma2RotaryEmbedding does, so angles round the same way.
 */
export function rotaryTables(headDim: number, theta: number, maxPositions: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const invFreq = Array.from({ length: half }, (_, j) => Math.fround(1 / Math.fround(theta ** Math.fround((2 * j) / headDim))));
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let j = 0; j < half; j++) {
      const angle = Math.fround(p * invFreq[j]!);
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export async function rotaryCaches(ctx: BuildContext): Promise<RotaryCaches> {
  const { head_dim, rope_theta, max_position_embeddings } = ctx.spec.config;
  const t = rotaryTables(head_dim, rope_theta, max_position_embeddings);
  const dims = [max_position_embeddings, head_dim / 2];
  return { cos: await ctx.weights.table('rope.cos_cache', dims, t.cos), sin: await ctx.weights.table('rope.sin_cache', dims, t.sin) };
}

/**
 * Key j is visible from query position p iff j ≤ p and, on sliding layers,
 * p − j < sliding_window. The layer's keys are its past rows (the P positions just
 * before position_ids[0]) followed by the new tokens, so their positions follow from
 * the past's length alone.
 */
function mask(ctx: BuildContext, kind: 'sliding' | 'global', past: string): string {
  const { g } = ctx;
  const p = `mask.${kind}`;
  const queryPos = g.op('Reshape', `${p}.query_pos`, [POSITION_IDS, g.constant(`${p}.flat`, 'int64', [1], [-1])]);
  const first = g.op('Slice', `${p}.first_pos`, [queryPos, g.constant(`${p}.zero`, 'int64', [1], [0]), g.constant(`${p}.one`, 'int64', [1], [1])]);
  const pastLen = g.op('Shape', `${p}.past_len`, [past], { attrs: { start: int(1), end: int(2) } });
  const newLen = g.op('Shape', `${p}.new_len`, [queryPos]);
  const start = g.op('Sub', `${p}.key_start`, [first, pastLen]);
  const end = g.op('Add', `${p}.key_end`, [first, newLen]);
  const scalar = (x: string, n: string): string => g.op('Squeeze', `${p}.${n}`, [x]);
  const step = g.constant(`${p}.step`, 'int64', [], [1]);
  const keyPos = g.op('Range', `${p}.key_pos`, [scalar(start, 'start_scalar'), scalar(end, 'end_scalar'), step]);
  const rows = g.op('Unsqueeze', `${p}.query_col`, [queryPos, g.constant(`${p}.axis1`, 'int64', [1], [1])]);
  const causal = g.op('LessOrEqual', `${p}.causal`, [keyPos, rows]);
  if (kind === 'global') return causal;
  const distance = g.op('Sub', `${p}.distance`, [rows, keyPos]);
  const window = g.constant(`${p}.window`, 'int64', [], [ctx.spec.config.sliding_window]);
  const inWindow = g.op('Less', `${p}.in_window`, [distance, window]);
  return g.op('And', `${p}.visible`, [causal, inWindow]);
}

/** Masks for the layer kinds present, each derived from the first layer of that kind. */
export function masks(ctx: BuildContext): Masks {
  const firstSliding = ctx.spec.isSliding.indexOf(true);
  const firstGlobal = ctx.spec.isSliding.indexOf(false);
  return {
    ...(firstSliding >= 0 ? { sliding: mask(ctx, 'sliding', pastKey(firstSliding)) } : {}),
    ...(firstGlobal >= 0 ? { global: mask(ctx, 'global', pastKey(firstGlobal)) } : {}),
  };
}

function rope(ctx: BuildContext, name: string, x: string, heads: number, caches: RotaryCaches): string {
  const batched = ctx.g.op('Unsqueeze', `${name}.batched`, [x, ctx.g.constant(`${name}.axis0`, 'int64', [1], [0])]);
  return ctx.g.op('RotaryEmbedding', name, [batched, POSITION_IDS, caches.cos, caches.sin], {
    domain: 'com.microsoft',
    attrs: { interleaved: int(0), num_heads: int(heads) },
  });
}

/** [1, T, kvh·hd] → [kvh, 1, hd, T] (keys) or [kvh, 1, T, hd] (values), broadcasting over the query heads of a group. */
function perKvHead(ctx: BuildContext, name: string, x: string, perm: number[]): string {
  const { num_key_value_heads: kvh, head_dim: hd } = ctx.spec.config;
  const split = ctx.g.op('Reshape', `${name}.heads`, [x, ctx.g.constant(`${name}.shape`, 'int64', [4], [-1, kvh, 1, hd])]);
  return ctx.g.op('Transpose', name, [split], { attrs: { perm: ints(perm) } });
}

/** softmax(softcap(q·kᵀ · scale) masked) · v over the past and new keys of one layer. */
function scaledDotProduct(ctx: BuildContext, p: string, q: string, keys: string, values: string, visible: string): string {
  const { g, spec } = ctx;
  const { num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd, attn_logit_softcapping: cap } = spec.config;
  const qHeads = g.op('Reshape', `${p}.q_heads`, [q, g.constant(`${p}.q_shape`, 'int64', [4], [-1, kvh, nh / kvh, hd])]);
  const qGrouped = g.op('Transpose', `${p}.q_grouped`, [qHeads], { attrs: { perm: ints([1, 2, 0, 3]) } });
  const kT = perKvHead(ctx, `${p}.k_t`, keys, [1, 2, 3, 0]);
  const v = perKvHead(ctx, `${p}.v_heads`, values, [1, 2, 0, 3]);
  const dot = g.op('MatMul', `${p}.qk`, [qGrouped, kT]);
  let scores = g.op('Mul', `${p}.scaled`, [dot, g.constant(`${p}.scale`, 'float32', [], [spec.attnScale])]);
  if (cap !== null) scores = softcap(ctx, `${p}.softcap`, scores, cap);
  const minusInf = g.constant(`${p}.masked_value`, 'float32', [], [-Infinity]);
  const masked = g.op('Where', `${p}.masked`, [visible, scores, minusInf]);
  const probs = g.op('Softmax', `${p}.probs`, [masked], { attrs: { axis: int(-1) } });
  const context = g.op('MatMul', `${p}.context`, [probs, v]);
  const bySeq = g.op('Transpose', `${p}.context_seq`, [context], { attrs: { perm: ints([2, 0, 1, 3]) } });
  return g.op('Reshape', `${p}.context_flat`, [bySeq, g.constant(`${p}.out_shape`, 'int64', [2], [-1, spec.qDim])]);
}

/**
 * Self-attention of layer `layer` for x [S, hidden]. Emits the rotated keys and the
 * values of the new tokens as graph outputs, for the runtime's cache.
 */
export async function attention(ctx: BuildContext, layer: number, x: string, visible: string, caches: RotaryCaches): Promise<string> {
  const { g, spec } = ctx;
  const p = `layers.${layer}.attn`;
  const { num_attention_heads: nh, num_key_value_heads: kvh } = spec.config;
  const qkvWeights = await linearWeights(ctx, `${p}.qkv`, [attnWeight(layer, 'q_proj'), attnWeight(layer, 'k_proj'), attnWeight(layer, 'v_proj')]);
  const qkv = linear(ctx, `${p}.qkv`, x, qkvWeights);
  const sizes = g.constant(`${p}.split_sizes`, 'int64', [3], [spec.qDim, spec.kvDim, spec.kvDim]);
  const [q, k, v] = g.node('Split', `${p}.split`, [qkv, sizes], { attrs: { axis: int(1) }, outputs: [`${p}.q`, `${p}.k`, `${p}.v`] });
  const qRot = rope(ctx, `${p}.q_rope`, q!, nh, caches);
  const kRot = rope(ctx, `${p}.k_rope`, k!, kvh, caches);
  const batch = g.constant(`${p}.axis0`, 'int64', [1], [0]);
  g.node('Identity', `${p}.new_key`, [kRot], { outputs: [newKey(layer)] });
  g.node('Unsqueeze', `${p}.new_value`, [v!, batch], { outputs: [newValue(layer)] });
  const keys = g.op('Concat', `${p}.keys`, [pastKey(layer), newKey(layer)], { attrs: { axis: int(1) } });
  const values = g.op('Concat', `${p}.values`, [pastValue(layer), newValue(layer)], { attrs: { axis: int(1) } });
  const context = scaledDotProduct(ctx, p, qRot, keys, values, visible);
  const oWeights = await linearWeights(ctx, `${p}.o`, [attnWeight(layer, 'o_proj')]);
  return linear(ctx, `${p}.o`, context, oWeights);
}
