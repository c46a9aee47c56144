import type { BuildContext } from './blocks.js';
import { int } from './proto.js';
import { pastKey, POSITION_IDS } from './io-names.js';

/**
 * Boolean visibility of each layer kind's keys, as [S · group, T]: one row per new token
 * and query head of a KV group (rows ordered token-major), the layout attention scores
 * are computed in.
 */
export interface Masks {
  sliding?: string;
  global?: string;
}

/**
 * Where a run's tokens sit: the step graph's consecutive `position_ids`, or one step of
 * the decode loop (docs/graph-contract.md).
 */
export interface RunPositions {
  /** The queries' positions as [1, S], RotaryEmbedding's position_ids. */
  ids: string;
  /** The same, flat: [S]. */
  queries: string;
  /** [1]: how many cache rows are filled, the position of the first key after the cache. */
  filled: string;
  /** [N]: positions of the keys after the cache, the run's new rows (N ≥ S). */
  newKeys: string;
}

/** The step graph's positions: its new tokens are its only keys after the cache. */
export function stepPositions(ctx: BuildContext): RunPositions {
  const { g } = ctx;
  const p = 'mask.keys';
  const queries = g.op('Reshape', `${p}.query_pos`, [POSITION_IDS, g.constant(`${p}.flat`, 'int64', [1], [-1])]);
  const filled = g.op('Slice', `${p}.first_pos`, [queries, g.constant(`${p}.zero`, 'int64', [1], [0]), g.constant(`${p}.one`, 'int64', [1], [1])]);
  return { ids: POSITION_IDS, queries, filled, newKeys: queries };
}

interface Visibility {
  visible: string;
  queryLen: string;
  keyLen: string;
}

/**
 * Key j is visible from query position p iff j ≤ p (this function's result) and, on
 * sliding layers, p − j < sliding_window. The keys are the cache's rows, row r holding
 * position r and rows from `filled` on being padding, followed by the run's new rows.
 * Padding gets a position after every query, so causality hides it. Shared by both kinds:
 * every layer's cache has the same capacity, read from the graph's first layer.
 */
function causality(ctx: BuildContext, firstLayer: number, pos: RunPositions): Visibility & { queries: string; keyPos: string } {
  const { g } = ctx;
  const p = 'mask.keys';
  const capacity = g.op('Shape', `${p}.capacity`, [pastKey(firstLayer)], { attrs: { start: int(1), end: int(2) } });
  const scalar = (x: string, n: string): string => g.op('Squeeze', `${p}.${n}`, [x]);
  const rows = g.op('Range', `${p}.cache_rows`, [g.constant(`${p}.start`, 'int64', [], [0]), scalar(capacity, 'capacity_scalar'), g.constant(`${p}.step`, 'int64', [], [1])]);
  const later = g.constant(`${p}.padding_pos`, 'int64', [], [Number.MAX_SAFE_INTEGER]);
  const pastPos = g.op('Where', `${p}.past_pos`, [g.op('Less', `${p}.filled`, [rows, pos.filled]), rows, later]);
  const keyPos = g.op('Concat', `${p}.key_pos`, [pastPos, pos.newKeys], { attrs: { axis: int(0) } });
  const queries = g.op('Unsqueeze', `${p}.query_col`, [pos.queries, g.constant(`${p}.axis1`, 'int64', [1], [1])]);
  return {
    visible: g.op('LessOrEqual', `${p}.causal`, [keyPos, queries]),
    queryLen: g.op('Shape', `${p}.new_len`, [pos.queries]),
    keyLen: g.op('Shape', `${p}.key_len`, [keyPos]),
    queries,
    keyPos,
  };
}

/** Causality and, on top of it, the window of sliding layers. */
function sliding(ctx: BuildContext, c: ReturnType<typeof causality>): Visibility {
  const { g } = ctx;
  const distance = g.op('Sub', 'mask.sliding.distance', [c.queries, c.keyPos]);
  const inWindow = g.op('Less', 'mask.sliding.in_window', [distance, g.constant('mask.sliding.window', 'int64', [], [ctx.spec.config.sliding_window])]);
  return { ...c, visible: g.op('And', 'mask.sliding.visible', [c.visible, inWindow]) };
}

/** [S, T] → [S · group, T]: each token's row repeated for the query heads sharing a KV head. */
function perQueryHead(ctx: BuildContext, p: string, v: Visibility): string {
  const { g, spec } = ctx;
  const group = g.constant(`${p}.group`, 'int64', [1], [spec.config.num_attention_heads / spec.config.num_key_value_heads]);
  const expandShape = g.op('Concat', `${p}.expand_shape`, [v.queryLen, group, v.keyLen], { attrs: { axis: int(0) } });
  const unsqueezed = g.op('Unsqueeze', `${p}.per_token`, [v.visible, g.constant(`${p}.axis_group`, 'int64', [1], [1])]);
  const expanded = g.op('Expand', `${p}.per_head`, [unsqueezed, expandShape]);
  const rowCount = g.op('Mul', `${p}.row_count`, [v.queryLen, group]);
  const rowsShape = g.op('Concat', `${p}.rows_shape`, [rowCount, v.keyLen], { attrs: { axis: int(0) } });
  return g.op('Reshape', `${p}.rows`, [expanded, rowsShape]);
}

/** Masks for the layer kinds present in a graph of layers `start … end − 1`. */
export function masks(ctx: BuildContext, [start, end]: [number, number], pos: RunPositions): Masks {
  const c = causality(ctx, start, pos);
  const kinds = ctx.spec.isSliding.slice(start, end);
  return {
    ...(kinds.includes(true) ? { sliding: perQueryHead(ctx, 'mask.sliding', sliding(ctx, c)) } : {}),
    ...(kinds.includes(false) ? { global: perQueryHead(ctx, 'mask.global', c) } : {}),
  };
}
