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
 * Key j is visible from query position p iff j ≤ p and, on sliding layers,
 * p − j < sliding_window. The layer's keys are its past rows (the P positions just
 * before position_ids[0]) followed by the new tokens, so their positions follow from
 * the past's length alone.
 */
function visibility(ctx: BuildContext, p: string, kind: 'sliding' | 'global', past: string): { visible: string; queryLen: string; keyLen: string } {
  const { g } = ctx;
  const queryPos = g.op('Reshape', `${p}.query_pos`, [POSITION_IDS, g.constant(`${p}.flat`, 'int64', [1], [-1])]);
  const first = g.op('Slice', `${p}.first_pos`, [queryPos, g.constant(`${p}.zero`, 'int64', [1], [0]), g.constant(`${p}.one`, 'int64', [1], [1])]);
  const pastLen = g.op('Shape', `${p}.past_len`, [past], { attrs: { start: int(0), end: int(1) } });
  const queryLen = g.op('Shape', `${p}.new_len`, [queryPos]);
  const start = g.op('Sub', `${p}.key_start`, [first, pastLen]);
  const end = g.op('Add', `${p}.key_end`, [first, queryLen]);
  const scalar = (x: string, n: string): string => g.op('Squeeze', `${p}.${n}`, [x]);
  const keyPos = g.op('Range', `${p}.key_pos`, [scalar(start, 'start_scalar'), scalar(end, 'end_scalar'), g.constant(`${p}.step`, 'int64', [], [1])]);
  const keyLen = g.op('Shape', `${p}.key_len`, [keyPos]);
  const rows = g.op('Unsqueeze', `${p}.query_col`, [queryPos, g.constant(`${p}.axis1`, 'int64', [1], [1])]);
  const causal = g.op('LessOrEqual', `${p}.causal`, [keyPos, rows]);
  if (kind === 'global') return { visible: causal, queryLen, keyLen };
  const distance = g.op('Sub', `${p}.distance`, [rows, keyPos]);
  const inWindow = g.op('Less', `${p}.in_window`, [distance, g.constant(`${p}.window`, 'int64', [], [ctx.spec.config.sliding_window])]);
  return { visible: g.op('And', `${p}.visible`, [causal, inWindow]), queryLen, keyLen };
}

/** [S, T] → [S · group, T]: each token's row repeated for the query heads sharing a KV head. */
function perQueryHead(ctx: BuildContext, p: string, v: { visible: string; queryLen: string; keyLen: string }): string {
  const { g, spec } = ctx;
  const group = g.constant(`${p}.group`, 'int64', [1], [spec.config.num_attention_heads / spec.config.num_key_value_heads]);
  const expandShape = g.op('Concat', `${p}.expand_shape`, [v.queryLen, group, v.keyLen], { attrs: { axis: int(0) } });
  const unsqueezed = g.op('Unsqueeze', `${p}.per_token`, [v.visible, g.constant(`${p}.axis_group`, 'int64', [1], [1])]);
  const expanded = g.op('Expand', `${p}.per_head`, [unsqueezed, expandShape]);
  const rowCount = g.op('Mul', `${p}.row_count`, [v.queryLen, group]);
  const rowsShape = g.op('Concat', `${p}.rows_shape`, [rowCount, v.keyLen], { attrs: { axis: int(0) } });
  return g.op('Reshape', `${p}.rows`, [expanded, rowsShape]);
}

/** Masks for the layer kinds present, each derived from the first layer of that kind. */
export function masks(ctx: BuildContext): Masks {
  const build = (kind: 'sliding' | 'global', layer: number): string =>
    perQueryHead(ctx, `mask.${kind}`, visibility(ctx, `mask.${kind}`, kind, pastKey(layer, 0)));
  const firstSliding = ctx.spec.isSliding.indexOf(true);
  const firstGlobal = ctx.spec.isSliding.indexOf(false);
  return {
    ...(firstSliding >= 0 ? { sliding: build('sliding', firstSliding) } : {}),
    ...(firstGlobal >= 0 ? { global: build('global', firstGlobal) } : {}),
  };
}
