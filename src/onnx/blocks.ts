import type { ModelSpec } from '../checkpoint/config.js';
import { mlpWeight } from '../checkpoint/tensor-names.js';
import type { FloatType } from '../quantize/block-quant.js';
import { computeType, quantScheme, type WeightFormat } from '../quantize/precision.js';
import type { LinearWeights, WeightWriter } from './weight-writer.js';
import type { GraphBuilder } from './graph-builder.js';
import { DataType, float, int, str } from './proto.js';

/** What every block function needs; nothing in it changes while the graph is built. */
export interface BuildContext {
  g: GraphBuilder;
  spec: ModelSpec;
  weights: WeightWriter;
  format: WeightFormat;
}

/** Stores the stacked rows of `sources` in the export's precision. */
export function linearWeights(ctx: BuildContext, name: string, sources: string[], quantize = true): Promise<LinearWeights> {
  const scheme = quantScheme(ctx.format);
  if (scheme === undefined || !quantize) return ctx.weights.float(name, sources);
  return ctx.weights.nbits(name, sources, scheme);
}

function cast(ctx: BuildContext, name: string, x: string, from: FloatType, to: FloatType): string {
  return from === to ? x : ctx.g.op('Cast', name, [x], { attrs: { to: int(DataType[to]) } });
}

/** Into the type linear layers and attention compute in (fp16 on CUDA); a no-op where that is fp32. */
export const toCompute = (ctx: BuildContext, name: string, x: string): string => cast(ctx, name, x, 'float32', computeType(ctx.format));

/** Back to fp32 for the residual stream, the norms and the logits. */
export const toFloat32 = (ctx: BuildContext, name: string, x: string): string => cast(ctx, name, x, computeType(ctx.format), 'float32');

/** y = x · Wᵀ for x [S, K]: Gemm over the HF [N, K] matrix, or MatMulNBits over its block-quantized rows. */
export function linear(ctx: BuildContext, name: string, x: string, w: LinearWeights): string {
  if (w.kind === 'float') return ctx.g.op('Gemm', name, [x, w.weight], { attrs: { transB: int(1) } });
  const inputs = [x, w.codes, w.scales, ...(w.zeroPoints !== undefined ? [w.zeroPoints] : [])];
  return ctx.g.op('MatMulNBits', name, inputs, {
    domain: 'com.microsoft',
    attrs: {
      K: int(w.k),
      N: int(w.n),
      bits: int(w.scheme.bits),
      block_size: int(w.scheme.blockSize),
      accuracy_level: int(ctx.format.accuracyLevel),
    },
  });
}

/** Gemma's norm weight with its `1 + w` folded in. */
const normGamma = (ctx: BuildContext, name: string, source: string): Promise<string> => ctx.weights.vector(`${name}.weight`, source, (w) => w.map((v) => 1 + v));

/** Gemma's RMSNorm: x / sqrt(mean(x²) + eps) · (1 + w), computed in fp32 (stash_type 1). */
export async function rmsNorm(ctx: BuildContext, name: string, x: string, source: string): Promise<string> {
  const gamma = await normGamma(ctx, name, source);
  return ctx.g.op('SimplifiedLayerNormalization', name, [x, gamma], {
    attrs: { axis: int(-1), epsilon: float(ctx.spec.config.rms_norm_eps), stash_type: int(1) },
  });
}

/**
 * The residual stream between blocks: a tensor, or a sum the next norm adds as it normalizes
 * it (SkipSimplifiedLayerNormalization: one node for the residual add and the RMSNorm).
 */
export type Residual = { h: string; add?: string };

/** RMSNorm of the residual stream, adding its pending sum first: the normalized rows, and the stream as one tensor. */
export async function addAndNorm(ctx: BuildContext, name: string, r: Residual, source: string): Promise<{ normed: string; stream: string }> {
  if (r.add === undefined) return { normed: await rmsNorm(ctx, name, r.h, source), stream: r.h };
  const gamma = await normGamma(ctx, name, source);
  const [normed, , , stream] = ctx.g.node('SkipSimplifiedLayerNormalization', name, [r.add, r.h, gamma], {
    domain: 'com.microsoft',
    attrs: { epsilon: float(ctx.spec.config.rms_norm_eps) },
    outputs: [name, '', '', `${name}.sum`],
  });
  return { normed: normed!, stream: stream! };
}

/** The stream as one tensor: its pending sum added. */
export const materialize = (ctx: BuildContext, name: string, r: Residual): string => (r.add === undefined ? r.h : ctx.g.op('Add', name, [r.h, r.add]));

/** cap · tanh(x / cap), as three explicit ops so no runtime can drop or approximate it. */
export function softcap(ctx: BuildContext, name: string, x: string, cap: number, type: FloatType = 'float32'): string {
  const c = ctx.g.constant(`${name}.cap`, type, [], [cap]);
  const divided = ctx.g.op('Div', `${name}.div`, [x, c]);
  const tanh = ctx.g.op('Tanh', `${name}.tanh`, [divided]);
  return ctx.g.op('Mul', `${name}.mul`, [tanh, c]);
}

/** GeGLU: down(gelu_tanh(gate(x)) ⊙ up(x)), gate and up stacked into one matrix. */
export async function mlp(ctx: BuildContext, layer: number, x: string): Promise<string> {
  const { g } = ctx;
  const p = `layers.${layer}.mlp`;
  const ff = ctx.spec.config.intermediate_size;
  const gateUp = linear(ctx, `${p}.gate_up`, x, await linearWeights(ctx, `${p}.gate_up`, [mlpWeight(layer, 'gate_proj'), mlpWeight(layer, 'up_proj')]));
  const sizes = g.constant(`${p}.split_sizes`, 'int64', [2], [ff, ff]);
  const [gate, up] = g.node('Split', `${p}.split`, [gateUp, sizes], { attrs: { axis: int(1) }, outputs: [`${p}.gate`, `${p}.up`] });
  const act = g.op('Gelu', `${p}.gelu`, [gate!], { attrs: { approximate: str('tanh') } });
  const product = g.op('Mul', `${p}.product`, [act, up!]);
  return linear(ctx, `${p}.down`, product, await linearWeights(ctx, `${p}.down`, [mlpWeight(layer, 'down_proj')]));
}
