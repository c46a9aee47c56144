import { attnWeight } from '../checkpoint/tensor-names.js';
import type { RotaryCaches } from './attention.js';
import { linear, linearWeights, type BuildContext } from './blocks.js';
import type { GraphBuilder } from './graph-builder.js';
import { DataType, float, int, ints } from './proto.js';

/**
 * Where a run's tokens sit, as GroupQueryAttention reads it: `seqlens_k` [1], the last
 * token's position, and `total_sequence_length`, a scalar one past it, both int32. The
 * kernel rotates the run's queries and keys from position seqlens_k − S + 1 on, and reads
 * that many rows of the cache it is given as the past (the rest are padding).
 */
export interface GqaLengths {
  seqlensK: string;
  total: string;
  /** One past the last token's position, [1] int64: the end of the run's rows. */
  end: string;
}

/** The lengths of a run of `count` tokens ([1], int64) from position `first` ([1], int64). */
export function gqaLengths(g: GraphBuilder, p: string, first: string, count: string): GqaLengths {
  const end = g.op('Add', `${p}.end`, [first, count]);
  const last = g.op('Sub', `${p}.last`, [end, g.constant(`${p}.one`, 'int64', [1], [1])]);
  const int32 = { attrs: { to: int(DataType.int32) } };
  return {
    end,
    seqlensK: g.op('Cast', `${p}.seqlens_k`, [last], int32),
    total: g.op('Cast', `${p}.total_sequence_length`, [g.op('Squeeze', `${p}.end_scalar`, [end])], int32),
  };
}

/** A layer's keys and values, each [1, kv_heads, rows, head_dim]: the past the kernel reads, or the present it writes. */
export interface GqaCache {
  keys: string;
  values: string;
}

/**
 * Self-attention of layer `layer` for x [S, hidden] in one GroupQueryAttention node: packed
 * q/k/v projections, half-split rotary from the run's positions, scores scaled by
 * `query_pre_attn_scalar`^-0.5 and soft-capped by `attn_logit_softcapping` before the mask,
 * causality, and on sliding layers a window of `sliding_window` keys, the current one
 * included (onnxruntime's `local_window_size`: the CPU kernel and CUDA's flash path both
 * read it as that many keys). Writes the whole cache, past and new rows, to `present`.
 */
export async function groupQueryAttention(ctx: BuildContext, layer: number, x: string, past: GqaCache, present: GqaCache, lengths: GqaLengths, caches: RotaryCaches): Promise<string> {
  const { g, spec } = ctx;
  const p = `layers.${layer}.attn`;
  const { num_attention_heads: nh, num_key_value_heads: kvh, attn_logit_softcapping: cap, sliding_window: window } = spec.config;
  const qkvWeights = await linearWeights(ctx, `${p}.qkv`, [attnWeight(layer, 'q_proj'), attnWeight(layer, 'k_proj'), attnWeight(layer, 'v_proj')]);
  const packed = g.op('Unsqueeze', `${p}.qkv_batched`, [linear(ctx, `${p}.qkv`, x, qkvWeights), g.constant(`${p}.axis0`, 'int64', [1], [0])]);
  const [context] = g.node('GroupQueryAttention', `${p}.gqa`, [packed, '', '', past.keys, past.values, lengths.seqlensK, lengths.total, caches.cos, caches.sin], {
    domain: 'com.microsoft',
    attrs: {
      num_heads: int(nh),
      kv_num_heads: int(kvh),
      scale: float(spec.attnScale),
      softcap: float(cap ?? 0),
      local_window_size: int(spec.isSliding[layer] ? window : -1),
      do_rotary: int(1),
      rotary_interleaved: int(0),
    },
    outputs: [`${p}.gqa`, present.keys, present.values],
  });
  const rows = g.op('Reshape', `${p}.context`, [context!, g.constant(`${p}.context_shape`, 'int64', [2], [-1, spec.qDim])]);
  const oWeights = await linearWeights(ctx, `${p}.o`, [attnWeight(layer, 'o_proj')]);
  return linear(ctx, `${p}.o`, rows, oWeights);
}

/** A cache input of the contract, [kv_heads, capacity, head_dim], as the kernel's [1, kv_heads, capacity, head_dim]. */
export const batched = (g: GraphBuilder, name: string, cache: string): string =>
  g.op('Unsqueeze', name, [cache, g.constant(`${name}.axis0`, 'int64', [1], [0])]);

/**
 * Rows `start … end − 1` of a present cache [1, kv_heads, T, head_dim] in the contract's layout
 * for new rows, [1, rows, kv_heads · head_dim], named `output`.
 */
export function presentRows(ctx: BuildContext, name: string, present: string, start: string, end: string, output: string): string {
  const { g, spec } = ctx;
  const rows = g.op('Slice', `${name}.rows`, [present, start, end, g.constant(`${name}.axis2`, 'int64', [1], [2])]);
  const tokensFirst = g.op('Transpose', `${name}.tokens_first`, [rows], { attrs: { perm: ints([0, 2, 1, 3]) } });
  return g.node('Reshape', name, [tokensFirst, g.constant(`${name}.shape`, 'int64', [3], [1, -1, spec.kvDim])], { outputs: [output] })[0]!;
}
