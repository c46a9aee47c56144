import { attnWeight } from '../checkpoint/tensor-names.js';
import { int } from './proto.js';
import { computeType } from '../quantize/precision.js';
import { linear, linearWeights, softcap, type BuildContext } from './blocks.js';
import { newKey, newValue, pastKey, pastValue, POSITION_IDS } from './io-names.js';

export interface RotaryCaches {
  cos: string;
  sin: string;
}

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
  // RotaryEmbedding takes caches of its input's type: the rotation runs in the compute type.
  const type = computeType(ctx.format);
  return { cos: await ctx.weights.table('rope.cos_cache', dims, t.cos, type), sin: await ctx.weights.table('rope.sin_cache', dims, t.sin, type) };
}

/** Half-split RoPE over x [S, heads · head_dim], from position_ids; the output is [1, S, heads · head_dim]. */
function rope(ctx: BuildContext, name: string, x: string, heads: number, caches: RotaryCaches, output = name): string {
  const batched = ctx.g.op('Unsqueeze', `${name}.batched`, [x, ctx.g.constant(`${name}.axis0`, 'int64', [1], [0])]);
  return ctx.g.node('RotaryEmbedding', name, [batched, POSITION_IDS, caches.cos, caches.sin], {
    domain: 'com.microsoft',
    attrs: { interleaved: int(0), num_heads: int(heads) },
    outputs: [output],
  })[0]!;
}

/** [S, n · width] → n tensors [S, width]. */
function splitColumns(ctx: BuildContext, name: string, x: string, n: number): string[] {
  const outputs = Array.from({ length: n }, (_, h) => `${name}.${h}`);
  return ctx.g.node('Split', name, [x], { attrs: { axis: int(1), num_outputs: int(n) }, outputs });
}

/** Splits along axis 0 into one tensor per KV head. */
function splitHeads(ctx: BuildContext, name: string, x: string, n: number): string[] {
  const outputs = Array.from({ length: n }, (_, h) => `${name}.${h}`);
  return ctx.g.node('Split', name, [x], { attrs: { axis: int(0), num_outputs: int(n) }, outputs });
}

/**
 * Scores of one KV head's query group against its cached keys and the new keys,
 * [1, S · group, T]. The cached keys are a contiguous [P, head_dim] view fed by the
 * runtime, read by Gemm with transB: no copy of the cache is made.
 */
function headScores(ctx: BuildContext, p: string, q: string, pastKeys: string, newKeys: string): string {
  const { g } = ctx;
  const past = g.op('Gemm', `${p}.past`, [q, pastKeys], { attrs: { transB: int(1) } });
  const current = g.op('Gemm', `${p}.new`, [q, newKeys], { attrs: { transB: int(1) } });
  const both = g.op('Concat', `${p}.all`, [past, current], { attrs: { axis: int(1) } });
  return g.op('Unsqueeze', `${p}.stacked`, [both, g.constant(`${p}.axis0`, 'int64', [1], [0])]);
}

/** softmax(softcap(scores · scale) masked), over every KV head at once: [kvh, S · group, T]. */
function probabilities(ctx: BuildContext, p: string, heads: string[], visible: string): string {
  const { g, spec } = ctx;
  const cap = spec.config.attn_logit_softcapping;
  const type = computeType(ctx.format);
  const stacked = heads.length === 1 ? heads[0]! : g.op('Concat', `${p}.scores`, heads, { attrs: { axis: int(0) } });
  let scores = g.op('Mul', `${p}.scaled`, [stacked, g.constant(`${p}.scale`, type, [], [spec.attnScale])]);
  if (cap !== null) scores = softcap(ctx, `${p}.softcap`, scores, cap, type);
  const masked = g.op('Where', `${p}.masked`, [visible, scores, g.constant(`${p}.masked_value`, type, [], [-Infinity])]);
  return g.op('Softmax', `${p}.probs`, [masked], { attrs: { axis: int(-1) } });
}

/** probs · V, with the cached values read in place and the new ones added: [S, q_heads · head_dim]. */
function weightedValues(ctx: BuildContext, p: string, layer: number, probs: string, newValues: string[]): string {
  const { g, spec } = ctx;
  const { num_key_value_heads: kvh, num_attention_heads: nh, head_dim: hd } = spec.config;
  const pastLen = g.op('Shape', `${p}.past_len`, [pastValue(layer, 0)], { attrs: { start: int(0), end: int(1) } });
  const axis = g.constant(`${p}.key_axis`, 'int64', [1], [2]);
  const onPast = g.op('Slice', `${p}.probs_past`, [probs, g.constant(`${p}.zero`, 'int64', [1], [0]), pastLen, axis]);
  const onNew = g.op('Slice', `${p}.probs_new`, [probs, pastLen, g.constant(`${p}.end`, 'int64', [1], [Number.MAX_SAFE_INTEGER]), axis]);
  const pastHeads = splitHeads(ctx, `${p}.probs_past_heads`, onPast, kvh);
  const newHeads = splitHeads(ctx, `${p}.probs_new_heads`, onNew, kvh);
  const rowsShape = g.constant(`${p}.group_shape`, 'int64', [2], [-1, (nh / kvh) * hd]);
  const outputs = newValues.map((v, h) => {
    const q = `${p}.h${h}`;
    const fromPast = g.op('MatMul', `${q}.past_values`, [pastHeads[h]!, pastValue(layer, h)]);
    const fromNew = g.op('MatMul', `${q}.new_values`, [newHeads[h]!, v]);
    return g.op('Reshape', `${q}.context`, [g.op('Add', `${q}.values`, [fromPast, fromNew]), rowsShape]);
  });
  return outputs.length === 1 ? outputs[0]! : g.op('Concat', `${p}.context`, outputs, { attrs: { axis: int(1) } });
}

/**
 * Self-attention of layer `layer` for x [S, hidden]. Emits the rotated keys and the
 * values of the new tokens as graph outputs, for the runtime's cache.
 */
export async function attention(ctx: BuildContext, layer: number, x: string, visible: string, caches: RotaryCaches): Promise<string> {
  const { g, spec } = ctx;
  const p = `layers.${layer}.attn`;
  const { num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd } = spec.config;
  const qkvWeights = await linearWeights(ctx, `${p}.qkv`, [attnWeight(layer, 'q_proj'), attnWeight(layer, 'k_proj'), attnWeight(layer, 'v_proj')]);
  const qkv = linear(ctx, `${p}.qkv`, x, qkvWeights);
  const sizes = g.constant(`${p}.split_sizes`, 'int64', [3], [spec.qDim, spec.kvDim, spec.kvDim]);
  const [q, k, v] = g.node('Split', `${p}.split`, [qkv, sizes], { attrs: { axis: int(1) }, outputs: [`${p}.q`, `${p}.k`, `${p}.v`] });
  const batch = g.constant(`${p}.axis0`, 'int64', [1], [0]);
  const qRot = g.op('Squeeze', `${p}.q_rotated`, [rope(ctx, `${p}.q_rope`, q!, nh, caches), batch]);
  rope(ctx, `${p}.k_rope`, k!, kvh, caches, newKey(layer));
  g.node('Unsqueeze', `${p}.new_value`, [v!, batch], { outputs: [newValue(layer)] });
  const kRot = g.op('Squeeze', `${p}.k_rotated`, [newKey(layer), batch]);
  const rows = g.constant(`${p}.q_rows`, 'int64', [2], [-1, hd]);
  const qGroups = splitColumns(ctx, `${p}.q_groups`, qRot, kvh).map((qh, h) => g.op('Reshape', `${p}.h${h}.q`, [qh, rows]));
  const kHeads = splitColumns(ctx, `${p}.k_heads`, kRot, kvh);
  const vHeads = splitColumns(ctx, `${p}.v_heads`, v!, kvh);
  const scores = qGroups.map((qh, h) => headScores(ctx, `${p}.h${h}.scores`, qh, pastKey(layer, h), kHeads[h]!));
  const probs = probabilities(ctx, p, scores, visible);
  const context = weightedValues(ctx, p, layer, probs, vHeads);
  const oWeights = await linearWeights(ctx, `${p}.o`, [attnWeight(layer, 'o_proj')]);
  return linear(ctx, `${p}.o`, context, oWeights);
}
