import { attnWeight } from '../checkpoint/tensor-names.js';
import { graph, int, ints } from './proto.js';
import { computeType } from '../quantize/precision.js';
import { linear, linearWeights, softcap, type BuildContext } from './blocks.js';
import type { GraphBuilder } from './graph-builder.js';
import { newKey, newValue, pastKey, pastValue } from './io-names.js';
import type { Masks, RunPositions } from './masks.js';

/** The initializers holding the rotary tables, [max_position_embeddings, head_dim / 2]. */
export const ROTARY_COS = 'rope.cos_cache';
export const ROTARY_SIN = 'rope.sin_cache';

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
  return { cos: await ctx.weights.table(ROTARY_COS, dims, t.cos, type), sin: await ctx.weights.table(ROTARY_SIN, dims, t.sin, type) };
}

/** Half-split RoPE over x [S, heads · head_dim], from positions [1, S]; the output is [1, S, heads · head_dim]. */
function rope(ctx: BuildContext, name: string, x: string, heads: number, caches: RotaryCaches, positions: string, output = name): string {
  const batched = ctx.g.op('Unsqueeze', `${name}.batched`, [x, ctx.g.constant(`${name}.axis0`, 'int64', [1], [0])]);
  return ctx.g.node('RotaryEmbedding', name, [batched, positions, caches.cos, caches.sin], {
    domain: 'com.microsoft',
    attrs: { interleaved: int(0), num_heads: int(heads) },
    outputs: [output],
  })[0]!;
}

/** The rotated queries [1, S, heads · head_dim] as [kv_heads, S · group, head_dim]: rows token-major within each KV head's group. */
function queryGroups(ctx: BuildContext, p: string, q: string): string {
  const { g, spec } = ctx;
  const { num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd } = spec.config;
  const split = g.op('Reshape', `${p}.q_split`, [q, g.constant(`${p}.q_split_shape`, 'int64', [4], [-1, kvh, nh / kvh, hd])]);
  const headsFirst = g.op('Transpose', `${p}.q_heads_first`, [split], { attrs: { perm: ints([1, 0, 2, 3]) } });
  return g.op('Reshape', `${p}.q_groups`, [headsFirst, g.constant(`${p}.q_groups_shape`, 'int64', [3], [kvh, -1, hd])]);
}

/** The new tokens' keys or values ([1,] S, kv_heads · head_dim), heads first, in the cache's layout for `perm`. */
function newRows(ctx: BuildContext, name: string, x: string, perm: number[]): string {
  const { g, spec } = ctx;
  const shape = g.constant(`${name}.split_shape`, 'int64', [3], [-1, spec.config.num_key_value_heads, spec.config.head_dim]);
  return g.op('Transpose', name, [g.op('Reshape', `${name}.split`, [x, shape])], { attrs: { perm: ints(perm) } });
}

/** a · bᵀ, batched over the KV heads; both operands are read where they are, so the cache is fed as the runtime stores it. */
const matMulTransB = (g: GraphBuilder, name: string, a: string, b: string): string =>
  g.op('FusedMatMul', name, [a, b], { domain: 'com.microsoft', attrs: { transB: int(1) } });

/**
 * Up to this many query rows per KV head (new tokens × group), the scores against the cache
 * are computed transposed: the keys become the product's streamed operand instead of the one
 * onnxruntime's CPU GEMM repacks on every call, and transposing the small result back is
 * cheap. For prompt chunks that transpose copies the whole score matrix and costs more than
 * it saves; the break-even measured between 32 and 64 rows (docs/benchmarks-history.md,
 * "Change: one batched cache per layer, values transposed").
 */
const KEYS_STREAMED_MAX_ROWS = 32;

/**
 * Whether this run's new tokens are few enough to read the cached keys as the streamed
 * operand, as a boolean scalar; undefined for CUDA graphs, where there is no repacking to
 * avoid and the If measured slower (docs/benchmarks.md, "CUDA on an H100").
 */
export function keysStreamed(ctx: BuildContext, positions: RunPositions): string | undefined {
  const { g, spec } = ctx;
  if (ctx.format.ep !== 'cpu') return undefined;
  const group = spec.config.num_attention_heads / spec.config.num_key_value_heads;
  const tokens = g.op('Shape', 'keys_streamed.tokens', [positions.ids], { attrs: { start: int(1), end: int(2) } });
  const limit = g.constant('keys_streamed.max_tokens', 'int64', [1], [Math.max(1, Math.floor(KEYS_STREAMED_MAX_ROWS / group))]);
  return g.op('Squeeze', 'keys_streamed', [g.op('LessOrEqual', 'keys_streamed.few', [tokens, limit])]);
}

/** Scores of the queries against the cached keys, [kv_heads, S · group, C], in the order `streamed` picks, if given. */
function pastScores(ctx: BuildContext, p: string, layer: number, queries: string, streamed: string | undefined): string {
  const { g } = ctx;
  if (streamed === undefined) return matMulTransB(g, `${p}.scores.past`, queries, pastKey(layer));
  const type = computeType(ctx.format);
  const transposed = g.branch(`${p}.scores.past.keys_streamed`, type, (b) => {
    const byKey = matMulTransB(b, `${p}.scores.past.by_key`, pastKey(layer), queries);
    return [b.op('Transpose', `${p}.scores.past.transposed`, [byKey], { attrs: { perm: ints([0, 2, 1]) } })];
  });
  const direct = g.branch(`${p}.scores.past.direct`, type, (b) => [matMulTransB(b, `${p}.scores.past.by_query`, queries, pastKey(layer))]);
  return g.op('If', `${p}.scores.past`, [streamed], { attrs: { then_branch: graph(transposed), else_branch: graph(direct) } });
}

/** softmax(softcap(scores · scale) masked) over [kv_heads, S · group, T]. */
function probabilities(ctx: BuildContext, p: string, scores: string, visible: string): string {
  const { g, spec } = ctx;
  const cap = spec.config.attn_logit_softcapping;
  const type = computeType(ctx.format);
  let scaled = g.op('Mul', `${p}.scaled`, [scores, g.constant(`${p}.scale`, type, [], [spec.attnScale])]);
  if (cap !== null) scaled = softcap(ctx, `${p}.softcap`, scaled, cap, type);
  const masked = g.op('Where', `${p}.masked`, [visible, scaled, g.constant(`${p}.masked_value`, type, [], [-Infinity])]);
  return g.op('Softmax', `${p}.probs`, [masked], { attrs: { axis: int(-1) } });
}

/**
 * probs · V as [S, heads · head_dim]. The cached values are transposed, [kv_heads, head_dim,
 * capacity], so that they are the streamed operand of the product (no per-call repacking
 * of the cache), and the result comes out transposed too.
 */
function weightedValues(ctx: BuildContext, p: string, layer: number, probs: string, newValues: string, newKeys: string): string {
  const { g, spec } = ctx;
  const { num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd } = spec.config;
  const shapeAt = (name: string, x: string, axis: number): string => g.op('Shape', name, [x], { attrs: { start: int(axis), end: int(axis + 1) } });
  const sizes = g.op('Concat', `${p}.key_counts`, [shapeAt(`${p}.capacity`, pastKey(layer), 1), shapeAt(`${p}.new_count`, newKeys, 1)], { attrs: { axis: int(0) } });
  const [onPast, onNew] = g.node('Split', `${p}.probs_split`, [probs, sizes], { attrs: { axis: int(2) }, outputs: [`${p}.probs_past`, `${p}.probs_new`] });
  const fromPast = matMulTransB(g, `${p}.past_values`, pastValue(layer), onPast!);
  const fromNew = matMulTransB(g, `${p}.new_values`, newValues, onNew!);
  const summed = g.op('Add', `${p}.values`, [fromPast, fromNew]);
  const split = g.op('Reshape', `${p}.context_split`, [summed, g.constant(`${p}.context_split_shape`, 'int64', [4], [kvh, hd, -1, nh / kvh])]);
  const tokensFirst = g.op('Transpose', `${p}.context_tokens_first`, [split], { attrs: { perm: ints([2, 0, 3, 1]) } });
  return g.op('Reshape', `${p}.context`, [tokensFirst, g.constant(`${p}.context_shape`, 'int64', [2], [-1, nh * hd])]);
}

/**
 * Where a layer's new rows go: the step graph's outputs, or one step of the decode loop,
 * whose rows of earlier steps (position-major, [1, N, kv_heads · head_dim]) come before
 * this step's and are attended to with them.
 */
export interface LayerRows {
  positions: RunPositions;
  keysOut: string;
  valuesOut: string;
  earlier?: { keys: string; values: string };
}

export const stepRows = (layer: number, positions: RunPositions): LayerRows => ({ positions, keysOut: newKey(layer), valuesOut: newValue(layer) });

/**
 * The new rows of keys or values, [1, N, kv_heads · head_dim], named `output`: this run's
 * (`current` makes them, named as given) after the loop's earlier ones, if any.
 */
function allRows(ctx: BuildContext, name: string, earlier: string | undefined, output: string, current: (name: string) => string): string {
  if (earlier === undefined) return current(output);
  return ctx.g.node('Concat', name, [earlier, current(`${name}.current`)], { attrs: { axis: int(1) }, outputs: [output] })[0]!;
}

/**
 * Self-attention of layer `layer` for x [S, hidden]. Emits the rotated keys and the
 * values of the new tokens under `rows`' names, for the runtime's cache.
 */
export async function attention(ctx: BuildContext, layer: number, x: string, visible: string, caches: RotaryCaches, streamed: string | undefined, rows: LayerRows): Promise<string> {
  const { g, spec } = ctx;
  const p = `layers.${layer}.attn`;
  const { num_attention_heads: nh, num_key_value_heads: kvh } = spec.config;
  const qkvWeights = await linearWeights(ctx, `${p}.qkv`, [attnWeight(layer, 'q_proj'), attnWeight(layer, 'k_proj'), attnWeight(layer, 'v_proj')]);
  const qkv = linear(ctx, `${p}.qkv`, x, qkvWeights);
  const sizes = g.constant(`${p}.split_sizes`, 'int64', [3], [spec.qDim, spec.kvDim, spec.kvDim]);
  const [q, k, v] = g.node('Split', `${p}.split`, [qkv, sizes], { attrs: { axis: int(1) }, outputs: [`${p}.q`, `${p}.k`, `${p}.v`] });
  const qGroups = queryGroups(ctx, p, rope(ctx, `${p}.q_rope`, q!, nh, caches, rows.positions.ids));
  const newKeys = allRows(ctx, `${p}.k_rows`, rows.earlier?.keys, rows.keysOut, (name) => rope(ctx, `${p}.k_rope`, k!, kvh, caches, rows.positions.ids, name));
  const newValues = allRows(ctx, `${p}.v_rows`, rows.earlier?.values, rows.valuesOut, (name) =>
    g.node('Unsqueeze', `${p}.new_value`, [v!, g.constant(`${p}.axis0`, 'int64', [1], [0])], { outputs: [name] })[0]!);
  const keys = newRows(ctx, `${p}.k_heads`, newKeys, [1, 0, 2]);
  const values = newRows(ctx, `${p}.v_heads`, newValues, [1, 2, 0]);
  const onPast = pastScores(ctx, p, layer, qGroups, streamed);
  const onNew = matMulTransB(g, `${p}.scores.new`, qGroups, keys);
  const scores = g.op('Concat', `${p}.scores`, [onPast, onNew], { attrs: { axis: int(2) } });
  const context = weightedValues(ctx, p, layer, probabilities(ctx, p, scores, visible), values, keys);
  const oWeights = await linearWeights(ctx, `${p}.o`, [attnWeight(layer, 'o_proj')]);
  return linear(ctx, `${p}.o`, context, oWeights);
}

/** Attention of layer `layer` over x [S, hidden] in the compute type, as the export's kernel builds it. */
export type Attend = (layer: number, x: string) => Promise<string>;

/** Attention written as ops, each layer's new rows going where `rowsOf` says. */
export function opsAttention(ctx: BuildContext, m: Masks, caches: RotaryCaches, streamed: string | undefined, rowsOf: (layer: number) => LayerRows): Attend {
  return (layer, x) => attention(ctx, layer, x, ctx.spec.isSliding[layer] ? m.sliding! : m.global!, caches, streamed, rowsOf(layer));
}
