import { FINAL_NORM } from '../checkpoint/tensor-names.js';
import { computeType } from '../quantize/precision.js';
import type { LinearWeights } from './weight-writer.js';
import { keysStreamed, opsAttention, rotaryCaches, type Attend, type RotaryCaches } from './attention.js';
import { addAndNorm, type BuildContext, type Residual } from './blocks.js';
import { declareCaches, decoderLayer, embedding, layerRange, lmHead, vocabulary } from './gemma2-graph.js';
import { batched, gqaLengths, groupQueryAttention, presentRows } from './group-query-attention.js';
import type { GraphBuilder } from './graph-builder.js';
import { INPUT_IDS, LOGITS, MAX_STEPS, newKey, newValue, pastKey, pastValue, POSITION_IDS, SAMPLING_INPUTS as S, STOP_IDS, TOKENS } from './io-names.js';
import { masks, type RunPositions } from './masks.js';
import { DataType, graph, int, type DType } from './proto.js';
import { chooseToken, repeatPenalty } from './sampling-graph.js';

/** Names inside the loop body: what each step receives and hands to the next. */
const STEP = {
  iteration: 'step.iteration',
  condition: 'step.condition',
  token: 'step.token',
  recent: 'step.recent',
  logits: 'step.logits',
  position: 'step.position',
  goOn: 'step.condition_out',
  nextToken: 'step.token_out',
  nextRecent: 'step.recent_out',
  nextLogits: 'step.logits_out',
  nextPosition: 'step.position_out',
  sampled: 'step.sampled_out',
  keysIn: (layer: number): string => `step.${layer}.keys_in`,
  valuesIn: (layer: number): string => `step.${layer}.values_in`,
  keysOut: (layer: number): string => `step.${layer}.keys_out`,
  valuesOut: (layer: number): string => `step.${layer}.values_out`,
};

interface Carried {
  name: string;
  dtype: DType;
  dims: (number | string)[];
}

/**
 * Each layer's keys and values as the steps hand them on: the rows added so far, [1, N,
 * kv_heads · head_dim], after which the ops kernel attends to them; with GroupQueryAttention
 * the whole cache, [1, kv_heads, T, head_dim], which the kernel reads and writes.
 */
function layerState(ctx: BuildContext, side: 'In' | 'Out'): Carried[] {
  const kv = computeType(ctx.format);
  const { num_key_value_heads: kvh, head_dim: hd } = ctx.spec.config;
  const dims = ctx.format.attention === 'gqa' ? [1, kvh, 'rows', hd] : [1, 'rows', ctx.spec.kvDim];
  return layerRange([0, ctx.spec.config.num_hidden_layers]).flatMap((i) => [
    { name: STEP[`keys${side}`](i), dtype: kv, dims },
    { name: STEP[`values${side}`](i), dtype: kv, dims },
  ]);
}

/**
 * The values each step hands to the next, in the Loop's order: the tokens to feed, the
 * recent ids, the logits, with GroupQueryAttention the next position, each layer's state.
 */
function carried(ctx: BuildContext, side: 'In' | 'Out'): Carried[] {
  const [token, recent, logits, position] = side === 'In'
    ? [STEP.token, STEP.recent, STEP.logits, STEP.position]
    : [STEP.nextToken, STEP.nextRecent, STEP.nextLogits, STEP.nextPosition];
  return [
    { name: token, dtype: 'int64', dims: [1, 'tokens'] },
    { name: recent, dtype: 'int64', dims: ['recent'] },
    { name: logits, dtype: 'float32', dims: [1, 'vocab'] },
    ...(ctx.format.attention === 'gqa' ? [{ name: position, dtype: 'int64' as const, dims: [1] }] : []),
    ...layerState(ctx, side),
  ];
}

function declareInputs(ctx: BuildContext): void {
  const { g } = ctx;
  g.input(INPUT_IDS, 'int64', [1, 'sequence_length']);
  g.input(POSITION_IDS, 'int64', [1, 1]);
  declareCaches(ctx, [0, ctx.spec.config.num_hidden_layers]);
  g.input(MAX_STEPS, 'int64', []);
  g.input(STOP_IDS, 'int64', ['stop_count']);
  g.input(S.draws, 'float64', ['draw_count']);
  g.input(S.temperature, 'float64', [1]);
  g.input(S.topK, 'int64', [1]);
  g.input(S.topP, 'float64', [1]);
  g.input(S.minP, 'float64', [1]);
  g.input(S.repeatPenalty, 'float32', [1]);
  g.input(S.repeatLastN, 'int64', [1]);
  g.input(S.recentIds, 'int64', ['recent_count']);
}

/**
 * A step feeds its tokens after the cache (filled up to p0 = position_ids) and the rows the
 * steps before it added: its keys are the cache and every row from p0 to its last token.
 */
function stepPositions(b: GraphBuilder): RunPositions {
  const p = 'step.positions';
  const filled = b.op('Reshape', `${p}.filled`, [POSITION_IDS, b.constant(`${p}.flat`, 'int64', [1], [-1])]);
  const scalar = (name: string, x: string): string => b.op('Squeeze', `${p}.${name}`, [x]);
  const countOf = (name: string, x: string): string => scalar(name, b.op('Shape', `${p}.${name}_shape`, [x], { attrs: { start: int(1), end: int(2) } }));
  const first = scalar('first', filled);
  const start = b.op('Add', `${p}.start`, [first, countOf('done', STEP.keysIn(0))]);
  const end = b.op('Add', `${p}.end`, [start, countOf('count', STEP.token)]);
  const one = b.constant(`${p}.step`, 'int64', [], [1]);
  const queries = b.op('Range', `${p}.queries`, [start, end, one]);
  const ids = b.op('Unsqueeze', `${p}.ids`, [queries, b.constant(`${p}.axis0`, 'int64', [1], [0])]);
  return { ids, queries, filled, newKeys: b.op('Range', `${p}.new_keys`, [first, end, one]) };
}

/** Final norm, lm_head and soft-cap of the step's last position: [1, vocab]. */
async function lastLogits(ctx: BuildContext, r: Residual, vocab: LinearWeights): Promise<string> {
  const { g } = ctx;
  const start = g.constant('step.last_start', 'int64', [1], [-1]);
  const end = g.constant('step.last_end', 'int64', [1], [Number.MAX_SAFE_INTEGER]);
  const last = (name: string, x: string): string => g.op('Slice', name, [x, start, end]);
  const rows: Residual = { h: last('step.last_position', r.h), ...(r.add !== undefined ? { add: last('step.last_position_add', r.add) } : {}) };
  const { normed } = await addAndNorm(ctx, 'final_norm', rows, FINAL_NORM);
  return lmHead(ctx, normed, vocab);
}

/** The ops kernel's attention in a step: the cache, then the earlier steps' rows, then the step's own. */
function opsStepAttention(ctx: BuildContext, caches: RotaryCaches): Attend {
  const positions = stepPositions(ctx.g);
  const m = masks(ctx, [0, ctx.spec.config.num_hidden_layers], positions);
  return opsAttention(ctx, m, caches, keysStreamed(ctx, positions), (layer) => ({
    positions, keysOut: STEP.keysOut(layer), valuesOut: STEP.valuesOut(layer), earlier: { keys: STEP.keysIn(layer), values: STEP.valuesIn(layer) },
  }));
}

/** GroupQueryAttention in a step: each layer's carried cache is its past, its present the next step's. */
function gqaStepAttention(ctx: BuildContext, caches: RotaryCaches): Attend {
  const { g } = ctx;
  const count = g.op('Shape', 'step.gqa.count', [STEP.token], { attrs: { start: int(1), end: int(2) } });
  const lengths = gqaLengths(g, 'step.gqa', STEP.position, count);
  g.node('Identity', 'step.position_next', [lengths.end], { outputs: [STEP.nextPosition] });
  return (layer, x) => groupQueryAttention(ctx, layer, x, { keys: STEP.keysIn(layer), values: STEP.valuesIn(layer) }, { keys: STEP.keysOut(layer), values: STEP.valuesOut(layer) }, lengths, caches);
}

/** One decode step: its tokens through every layer, the last one's logits, the next token, whether to go on. */
async function stepBody(ctx: BuildContext, caches: RotaryCaches, vocab: LinearWeights): Promise<Carried[]> {
  const { g } = ctx;
  const attend = ctx.format.attention === 'gqa' ? gqaStepAttention(ctx, caches) : opsStepAttention(ctx, caches);
  let r: Residual = { h: embedding(ctx, vocab, STEP.token) };
  for (const layer of layerRange([0, ctx.spec.config.num_hidden_layers])) r = await decoderLayer(ctx, layer, r, attend);
  const logits = g.node('Identity', 'step.logits_next', [await lastLogits(ctx, r, vocab)], { outputs: [STEP.nextLogits] })[0]!;
  const flat = g.op('Reshape', 'step.flat_logits', [logits, g.constant('step.flat', 'int64', [1], [-1])]);
  const draw = g.op('Gather', 'step.draw', [S.draws, STEP.iteration]);
  const token = chooseToken(ctx, repeatPenalty(ctx, flat, STEP.recent), draw);
  const stops = g.op('ReduceSum', 'step.stops', [g.op('Cast', 'step.is_stop', [g.op('Equal', 'step.stop_match', [STOP_IDS, token])], { attrs: { to: int(DataType.int64) } })], { attrs: { keepdims: int(0) } });
  g.node('Equal', 'step.go_on', [stops, g.constant('step.no_stop', 'int64', [], [0])], { outputs: [STEP.goOn] });
  g.node('Reshape', 'step.next', [token, g.constant('step.token_shape', 'int64', [2], [1, 1])], { outputs: [STEP.nextToken] });
  g.node('Concat', 'step.recent_next', [STEP.recent, g.op('Reshape', 'step.token_row', [token, g.constant('step.row', 'int64', [1], [1])])], { attrs: { axis: int(0) }, outputs: [STEP.nextRecent] });
  g.node('Identity', 'step.sampled', [token], { outputs: [STEP.sampled] });
  return [{ name: STEP.goOn, dtype: 'bool', dims: [] }, ...carried(ctx, 'Out'), { name: STEP.sampled, dtype: 'int64', dims: [] }];
}

/**
 * The decode loop (docs/graph-contract.md, "The decode loop"): one graph holding the whole
 * model, whose `Loop` runs up to `max_steps` steps, the first feeding `input_ids` (a prompt
 * chunk, or the last sampled token), each later one the token the step before sampled in
 * the graph, stopping after a token of `stop_ids`. Weights are the outer graph's, read by
 * the body by name.
 */
export async function buildDecodeLoop(ctx: BuildContext): Promise<void> {
  const { g, spec } = ctx;
  const layers = spec.config.num_hidden_layers;
  const kv = computeType(ctx.format);
  declareInputs(ctx);
  const caches = await rotaryCaches(ctx);
  const vocab = await vocabulary(ctx);
  const body = g.child();
  body.input(STEP.iteration, 'int64', []);
  body.input(STEP.condition, 'bool', []);
  for (const c of carried(ctx, 'In')) body.input(c.name, c.dtype, c.dims);
  const results = await stepBody({ ...ctx, g: body }, caches, vocab);
  const noLogits = g.constant('loop.no_logits', 'float32', [1, 0], []);
  const state = initialState(ctx);
  const outputs = ctx.format.attention === 'gqa' ? ['loop.end_position', ...stateNames('loop.final', layers)] : layerRange([0, layers]).flatMap((i) => [newKey(i), newValue(i)]);
  g.node('Loop', 'decode_loop', [MAX_STEPS, '', INPUT_IDS, S.recentIds, noLogits, ...state], {
    attrs: { body: graph(body.asSubgraph('decode_step', results)) },
    outputs: ['loop.last_token', 'loop.recent', LOGITS, ...outputs, TOKENS],
  });
  if (ctx.format.attention === 'gqa') newRowsOfCaches(ctx, state[0]!);
  g.output(TOKENS, 'int64', ['steps']);
  g.output(LOGITS, 'float32', [1, spec.config.vocab_size]);
  for (const i of layerRange([0, layers])) {
    g.output(newKey(i), kv, [1, 'rows', spec.kvDim]);
    g.output(newValue(i), kv, [1, 'rows', spec.kvDim]);
  }
}

/** Each layer's keys and values, named `<prefix>.<layer>.keys` and `.values`. */
const stateNames = (prefix: string, layers: number): string[] => layerRange([0, layers]).flatMap((i) => [`${prefix}.${i}.keys`, `${prefix}.${i}.values`]);

/** The loop's first state after the logits: no rows yet (ops), or the first position and the fed caches (gqa). */
function initialState(ctx: BuildContext): string[] {
  const { g, spec } = ctx;
  const layers = spec.config.num_hidden_layers;
  if (ctx.format.attention === 'ops') {
    const none = g.constant('loop.no_rows', computeType(ctx.format), [1, 0, spec.kvDim], []);
    return layerRange([0, layers]).flatMap(() => [none, none]);
  }
  const first = g.op('Reshape', 'loop.first_position', [POSITION_IDS, g.constant('loop.position_shape', 'int64', [1], [1])]);
  return [first, ...layerRange([0, layers]).flatMap((i) => [batched(g, `loop.${i}.past_keys`, pastKey(i)), batched(g, `loop.${i}.past_values`, pastValue(i))])];
}

/** With GroupQueryAttention, the new rows are the final caches' rows from the first position to the end of the fed tokens. */
function newRowsOfCaches(ctx: BuildContext, first: string): void {
  for (const i of layerRange([0, ctx.spec.config.num_hidden_layers])) {
    presentRows(ctx, `loop.${i}.new_keys`, `loop.final.${i}.keys`, first, 'loop.end_position', newKey(i));
    presentRows(ctx, `loop.${i}.new_values`, `loop.final.${i}.values`, first, 'loop.end_position', newValue(i));
  }
}
