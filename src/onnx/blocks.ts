import type { ModelSpec } from '../checkpoint/config.js';
import { mlpWeight } from '../checkpoint/tensor-names.js';
import type { WeightFormat } from '../quantize/precision.js';
import type { LinearWeights, WeightWriter } from '../quantize/weight-writer.js';
import type { GraphBuilder } from './graph-builder.js';
import { float, int, str } from './proto.js';

/** What every block function needs; nothing in it changes while the graph is built. */
export interface BuildContext {
  g: GraphBuilder;
  spec: ModelSpec;
  weights: WeightWriter;
  format: WeightFormat;
}

/** Stores the stacked rows of `sources` in the export's precision. */
export function linearWeights(ctx: BuildContext, name: string, sources: string[], quantize = true): Promise<LinearWeights> {
  const { precision, blockSize, asymmetric } = ctx.format;
  if (precision === 'fp32' || !quantize) return ctx.weights.float(name, sources);
  return ctx.weights.nbits(name, sources, { bits: precision === 'int4' ? 4 : 8, blockSize, asymmetric });
}

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

/** Gemma's RMSNorm: x / sqrt(mean(x²) + eps) · (1 + w), computed in fp32 (stash_type 1). */
export async function rmsNorm(ctx: BuildContext, name: string, x: string, source: string): Promise<string> {
  const gamma = await ctx.weights.vector(`${name}.weight`, source, (w) => w.map((v) => 1 + v));
  return ctx.g.op('SimplifiedLayerNormalization', name, [x, gamma], {
    attrs: { axis: int(-1), epsilon: float(ctx.spec.config.rms_norm_eps), stash_type: int(1) },
  });
}

/** cap · tanh(x / cap), as three explicit ops so no runtime can drop or approximate it. */
export function softcap(ctx: BuildContext, name: string, x: string, cap: number): string {
  const c = ctx.g.constant(`${name}.cap`, 'float32', [], [cap]);
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
