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

/** The queries' positions as a column [S, 1], and their count [1]: shared by both kinds. */
interface Queries {
  column: string;
  count: string;
}

function queryColumn(ctx: BuildContext, pos: RunPositions): Queries {
  const { g } = ctx;
  const p = 'mask.keys';
  const column = g.op('Unsqueeze', `${p}.query_col`, [pos.queries, g.constant(`${p}.axis1`, 'int64', [1], [1])]);
  return { column, count: g.op('Shape', `${p}.new_len`, [pos.queries]) };
}

/**
 * The positions of a layer kind's keys, [C + N]: its cache's C rows, then the run's new rows.
 * Row r holds the latest position q < `filled` with q ≡ r (mod C): position r while the cache
 * holds every position (C ≥ filled), and in a sliding layer's ring that wrapped, the position
 * that last overwrote the row. Rows never written (r ≥ filled) are padding, given a position
 * after every query so that causality hides them. C is read from `layer`, the kind's first
 * layer in the graph: layers of a kind share one capacity.
 */
function keyPositions(ctx: BuildContext, kind: string, layer: number, pos: RunPositions): string {
  const { g } = ctx;
  const p = `mask.${kind}.keys`;
  const capacity = g.op('Shape', `${p}.capacity`, [pastKey(layer)], { attrs: { start: int(1), end: int(2) } });
  const one = g.constant(`${p}.one`, 'int64', [], [1]);
  const rows = g.op('Range', `${p}.cache_rows`, [g.constant(`${p}.start`, 'int64', [], [0]), g.op('Squeeze', `${p}.capacity_scalar`, [capacity]), one]);
  const latest = g.op('Sub', `${p}.latest`, [pos.filled, one]);
  const laps = g.op('Div', `${p}.laps`, [g.op('Sub', `${p}.behind`, [latest, rows]), capacity]);
  const written = g.op('Add', `${p}.written_pos`, [rows, g.op('Mul', `${p}.lap_rows`, [laps, capacity])]);
  const later = g.constant(`${p}.padding_pos`, 'int64', [], [Number.MAX_SAFE_INTEGER]);
  const pastPos = g.op('Where', `${p}.past_pos`, [g.op('Less', `${p}.filled`, [rows, pos.filled]), written, later]);
  return g.op('Concat', `${p}.key_pos`, [pastPos, pos.newKeys], { attrs: { axis: int(0) } });
}

/**
 * Key j is visible from query position p iff j ≤ p and, on sliding layers, p − j <
 * sliding_window.
 */
function visibility(ctx: BuildContext, kind: 'sliding' | 'global', layer: number, q: Queries, pos: RunPositions): Visibility {
  const { g } = ctx;
  const p = `mask.${kind}`;
  const keyPos = keyPositions(ctx, kind, layer, pos);
  const keyLen = g.op('Shape', `${p}.key_len`, [keyPos]);
  const causal = g.op('LessOrEqual', `${p}.causal`, [keyPos, q.column]);
  if (kind === 'global') return { visible: causal, queryLen: q.count, keyLen };
  const distance = g.op('Sub', `${p}.distance`, [q.column, keyPos]);
  const inWindow = g.op('Less', `${p}.in_window`, [distance, g.constant(`${p}.window`, 'int64', [], [ctx.spec.config.sliding_window])]);
  return { visible: g.op('And', `${p}.visible`, [causal, inWindow]), queryLen: q.count, keyLen };
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
  const q = queryColumn(ctx, pos);
  const firstOf = (sliding: boolean): number => start + ctx.spec.isSliding.slice(start, end).indexOf(sliding);
  const mask = (kind: 'sliding' | 'global'): string => perQueryHead(ctx, `mask.${kind}`, visibility(ctx, kind, firstOf(kind === 'sliding'), q, pos));
  const kinds = ctx.spec.isSliding.slice(start, end);
  return {
    ...(kinds.includes(true) ? { sliding: mask('sliding') } : {}),
    ...(kinds.includes(false) ? { global: mask('global') } : {}),
  };
}
