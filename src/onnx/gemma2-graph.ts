import { EMBED_TOKENS, FINAL_NORM, normWeight } from '../checkpoint/tensor-names.js';
import type { LinearWeights } from './weight-writer.js';
import { keysStreamed, opsAttention, rotaryCaches, stepRows, type Attend } from './attention.js';
import { batched, gqaLengths, groupQueryAttention, presentRows } from './group-query-attention.js';
import { masks, stepPositions, type RunPositions } from './masks.js';
import { computeType } from '../quantize/precision.js';
import { addAndNorm, linear, linearWeights, materialize, mlp, rmsNorm, softcap, toCompute, toFloat32, type BuildContext, type Residual } from './blocks.js';
import { hiddenStates, INPUT_IDS, LOGITS, LOGITS_TO_KEEP, newKey, newValue, pastKey, pastValue, POSITION_IDS } from './io-names.js';
import { int } from './proto.js';
import type { StagePlan } from './stages.js';

export const layerRange = ([start, end]: [number, number]): number[] => Array.from({ length: end - start }, (_, i) => start + i);

/**
 * Graph inputs: one sequence (batch 1) of new tokens (or, after the first stage, the
 * residual stream entering the stage), their positions, and the cache of each of the
 * stage's layers (in the compute type) with one capacity shared by every layer.
 */
function declareInputs(ctx: BuildContext, stage: StagePlan, last: boolean): void {
  const { g, spec } = ctx;
  const [start] = stage.layers;
  if (start === 0) g.input(INPUT_IDS, 'int64', [1, 'sequence_length']);
  else g.input(hiddenStates(start), 'float32', ['sequence_length', spec.config.hidden_size]);
  g.input(POSITION_IDS, 'int64', [1, 'sequence_length']);
  if (last) g.input(LOGITS_TO_KEEP, 'int64', [1]);
  declareCaches(ctx, stage.layers);
}

/**
 * The cache of each of the layers `start … end − 1`, in the compute type, with one capacity
 * shared by every layer; values transposed for the ops kernel, laid out like keys for GroupQueryAttention.
 */
export function declareCaches(ctx: BuildContext, layers: [number, number]): void {
  const { g, spec } = ctx;
  const kv = computeType(ctx.format);
  const { num_key_value_heads: kvh, head_dim: hd } = spec.config;
  for (const i of layerRange(layers)) {
    g.input(pastKey(i), kv, [kvh, 'past_capacity', hd]);
    g.input(pastValue(i), kv, ctx.format.attention === 'ops' ? [kvh, hd, 'past_capacity'] : [kvh, 'past_capacity', hd]);
  }
}

function declareOutputs(ctx: BuildContext, stage: StagePlan, last: boolean): void {
  const { g, spec } = ctx;
  const kv = computeType(ctx.format);
  if (last) g.output(LOGITS, 'float32', [1, 'kept_positions', spec.config.vocab_size]);
  else g.output(hiddenStates(stage.layers[1]), 'float32', ['sequence_length', spec.config.hidden_size]);
  for (const i of layerRange(stage.layers)) {
    g.output(newKey(i), kv, [1, 'sequence_length', spec.kvDim]);
    g.output(newValue(i), kv, [1, 'sequence_length', spec.kvDim]);
  }
}

/**
 * The tied vocabulary matrix, stored once: lm_head rows for MatMulNBits/Gemm, also
 * read by the embedding lookup. Quantized with the layers unless keepEmbeddings.
 */
export function vocabulary(ctx: BuildContext): Promise<LinearWeights> {
  return linearWeights(ctx, 'vocab', [EMBED_TOKENS], !ctx.format.keepEmbeddings);
}

/** h = E[ids] · sqrt(hidden), as [S, hidden]. */
export function embedding(ctx: BuildContext, vocab: LinearWeights, tokens = INPUT_IDS): string {
  const { g, spec } = ctx;
  const ids = g.op('Reshape', 'embed.ids', [tokens, g.constant('embed.flat', 'int64', [1], [-1])]);
  let rows: string;
  if (vocab.kind === 'float') {
    rows = g.op('Gather', 'embed.lookup', [vocab.weight, ids], { attrs: { axis: int(0) } });
  } else {
    const packed = g.op('Reshape', 'embed.packed', [vocab.codes, g.constant('embed.packed_shape', 'int64', [2], [vocab.n, -1])]);
    const zp = vocab.zeroPoints !== undefined ? [vocab.zeroPoints] : [];
    rows = g.op('GatherBlockQuantized', 'embed.lookup', [packed, ids, vocab.scales, ...zp], {
      domain: 'com.microsoft',
      attrs: { bits: int(vocab.scheme.bits), block_size: int(vocab.scheme.blockSize), gather_axis: int(0), quantize_axis: int(1) },
    });
  }
  return g.op('Mul', 'embed.scaled', [toFloat32(ctx, 'embed.rows', rows), g.constant('embed.scale', 'float32', [], [spec.embedScale])]);
}

/**
 * One decoder layer: both sub-layers normalized before and after, each added to the
 * residual stream by the norm that follows it. The residual stream and the norms are fp32;
 * the sub-layers run in the compute type.
 */
export async function decoderLayer(ctx: BuildContext, layer: number, r: Residual, attend: Attend): Promise<Residual> {
  const p = `layers.${layer}`;
  const attnIn = await addAndNorm(ctx, `${p}.input_norm`, r, normWeight(layer, 'input_layernorm'));
  const attnOut = await attend(layer, toCompute(ctx, `${p}.attn_in`, attnIn.normed));
  const attnNormed = await rmsNorm(ctx, `${p}.post_attention_norm`, toFloat32(ctx, `${p}.attn_out`, attnOut), normWeight(layer, 'post_attention_layernorm'));
  const mlpIn = await addAndNorm(ctx, `${p}.pre_feedforward_norm`, { h: attnIn.stream, add: attnNormed }, normWeight(layer, 'pre_feedforward_layernorm'));
  const mlpOut = await mlp(ctx, layer, toCompute(ctx, `${p}.mlp_in`, mlpIn.normed));
  const mlpNormed = await rmsNorm(ctx, `${p}.post_feedforward_norm`, toFloat32(ctx, `${p}.mlp_out`, mlpOut), normWeight(layer, 'post_feedforward_layernorm'));
  return { h: mlpIn.stream, add: mlpNormed };
}

/** Tied lm_head and final soft-cap over final-normed rows [N, hidden]: fp32 logits [N, vocab]. */
export function lmHead(ctx: BuildContext, normed: string, vocab: LinearWeights): string {
  const out = toFloat32(ctx, 'lm_head.out', linear(ctx, 'lm_head', toCompute(ctx, 'lm_head.in', normed), vocab));
  const cap = ctx.spec.config.final_logit_softcapping;
  return cap === null ? out : softcap(ctx, 'final_softcap', out, cap);
}

/** Final norm, the last `logits_to_keep` positions (0 keeps all), tied lm_head, final soft-cap. */
async function logits(ctx: BuildContext, r: Residual, vocab: LinearWeights): Promise<void> {
  const { g } = ctx;
  const { normed } = await addAndNorm(ctx, 'final_norm', r, FINAL_NORM);
  const start = g.op('Neg', 'lm_head.keep_start', [LOGITS_TO_KEEP]);
  const end = g.constant('lm_head.keep_end', 'int64', [1], [Number.MAX_SAFE_INTEGER]);
  const kept = g.op('Slice', 'lm_head.kept', [normed, start, end, g.constant('lm_head.axis0', 'int64', [1], [0])]);
  g.node('Unsqueeze', 'logits.batched', [lmHead(ctx, kept, vocab), g.constant('logits.axis0', 'int64', [1], [0])], { outputs: [LOGITS] });
}

/**
 * Builds the graph of one stage of Gemma 2 (the whole model when there is one stage):
 * the embedding if it holds the first layer, its layers, the lm_head if it holds the last
 * one. Every weight is streamed into the external data file as it is reached.
 */
export async function buildGemma2Stage(ctx: BuildContext, stage: StagePlan): Promise<void> {
  const [start, end] = stage.layers;
  const last = end === ctx.spec.config.num_hidden_layers;
  declareInputs(ctx, stage, last);
  const attend = await stepAttention(ctx, stage, stepPositions(ctx));
  let r: Residual = { h: start === 0 ? embedding(ctx, await vocabulary(ctx)) : hiddenStates(start) };
  for (const layer of layerRange(stage.layers)) r = await decoderLayer(ctx, layer, r, attend);
  if (last) await logits(ctx, r, await vocabulary(ctx));
  else ctx.g.node('Identity', 'stage.output', [materialize(ctx, 'stage.residual', r)], { outputs: [hiddenStates(end)] });
  declareOutputs(ctx, stage, last);
}

/** The step graph's attention: each layer's new rows are the graph's outputs. */
async function stepAttention(ctx: BuildContext, stage: StagePlan, positions: RunPositions): Promise<Attend> {
  const { g } = ctx;
  const caches = await rotaryCaches(ctx);
  if (ctx.format.attention === 'ops') return opsAttention(ctx, masks(ctx, stage.layers, positions), caches, keysStreamed(ctx, positions), (layer) => stepRows(layer, positions));
  const count = g.op('Shape', 'gqa.count', [POSITION_IDS], { attrs: { start: int(1), end: int(2) } });
  const lengths = gqaLengths(g, 'gqa', positions.filled, count);
  return async (layer, x) => {
    const p = `layers.${layer}.attn`;
    const past = { keys: batched(g, `${p}.past_key`, pastKey(layer)), values: batched(g, `${p}.past_value`, pastValue(layer)) };
    const present = { keys: `${p}.present_key`, values: `${p}.present_value` };
    const out = await groupQueryAttention(ctx, layer, x, past, present, lengths, caches);
    presentRows(ctx, `${p}.new_key`, present.keys, positions.filled, lengths.end, newKey(layer));
    presentRows(ctx, `${p}.new_value`, present.values, positions.filled, lengths.end, newValue(layer));
    return out;
  };
}
