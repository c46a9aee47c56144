import type { BuildContext } from './blocks.js';
import type { GraphBuilder } from './graph-builder.js';
import { SAMPLING_INPUTS as S } from './io-names.js';
import { DataType, graph, int } from './proto.js';

/*
 * The host sampler's chain (src/runtime/sampler.ts, llama.cpp's order) as graph nodes, for
 * one step of the decode loop: repeat penalty, then greedy argmax at temperature 0, else
 * top-k, top-p and min-p over the probabilities before temperature, softmax at the
 * temperature over what is left, and the first candidate whose cumulative probability
 * reaches the host's uniform draw. Probabilities are float64 as in the host's JavaScript.
 */

const axis0 = (g: GraphBuilder, name: string): string => g.constant(name, 'int64', [1], [0]);

/**
 * llama.cpp's repeat penalty over logits [vocab]: each distinct token among the last
 * `repeat_last_n` of `recent` once, positive logits divided, negative ones multiplied.
 */
export function repeatPenalty(ctx: BuildContext, logits: string, recent: string): string {
  const { g } = ctx;
  const p = 'sample.penalty';
  const start = g.op('Neg', `${p}.window_start`, [S.repeatLastN]);
  const window = g.op('Slice', `${p}.window`, [recent, start, g.constant(`${p}.end`, 'int64', [1], [Number.MAX_SAFE_INTEGER]), axis0(g, `${p}.axis`)]);
  const seen = g.op('Gather', `${p}.seen`, [logits, window]);
  const positive = g.op('Greater', `${p}.positive`, [seen, g.constant(`${p}.zero`, 'float32', [], [0])]);
  const divided = g.op('Div', `${p}.divided`, [seen, S.repeatPenalty]);
  const multiplied = g.op('Mul', `${p}.multiplied`, [seen, S.repeatPenalty]);
  const penalized = g.op('Where', `${p}.penalized`, [positive, divided, multiplied]);
  // Repeated ids write the same value: each distinct token is penalized once.
  return g.op('ScatterElements', p, [logits, window, penalized], { attrs: { axis: int(0) } });
}

/** Which sorted candidates survive top-p (the shortest prefix reaching top_p; 1 keeps all) and min-p. */
function survivors(b: GraphBuilder, p: string, probs: string): string {
  const before = b.op('CumSum', `${p}.mass_before`, [probs, axis0(b, `${p}.cum_axis`)], { attrs: { exclusive: int(1) } });
  const underTopP = b.op('Less', `${p}.under_top_p`, [before, S.topP]);
  const noTopP = b.op('GreaterOrEqual', `${p}.no_top_p`, [S.topP, b.constant(`${p}.one`, 'float64', [], [1])]);
  const topP = b.op('Or', `${p}.top_p`, [underTopP, noTopP]);
  const best = b.op('Slice', `${p}.best`, [probs, axis0(b, `${p}.first`), b.constant(`${p}.second`, 'int64', [1], [1])]);
  const minP = b.op('GreaterOrEqual', `${p}.min_p`, [probs, b.op('Mul', `${p}.floor`, [S.minP, best])]);
  return b.op('And', `${p}.kept`, [topP, minP]);
}

/** The sampling branch: top_k candidates by logit (ties in id order), filtered, drawn from with `draw`. */
function sampleBranch(b: GraphBuilder, logits: string, draw: string): string {
  const p = 'sample.draw';
  const [values, ids] = b.node('TopK', `${p}.top_k`, [logits, S.topK], {
    attrs: { axis: int(0), largest: int(1), sorted: int(1) }, outputs: [`${p}.values`, `${p}.ids`],
  });
  const wide = b.op('Cast', `${p}.wide`, [values!], { attrs: { to: int(DataType.float64) } });
  const max = b.op('Slice', `${p}.max`, [wide, axis0(b, `${p}.max_start`), b.constant(`${p}.max_end`, 'int64', [1], [1])]);
  const shifted = b.op('Sub', `${p}.shifted`, [wide, max]);
  const exp = b.op('Exp', `${p}.exp`, [shifted]);
  const probs = b.op('Div', `${p}.probs`, [exp, b.op('ReduceSum', `${p}.z`, [exp], { attrs: { keepdims: int(0) } })]);
  const kept = survivors(b, p, probs);
  const hot = b.op('Exp', `${p}.hot_exp`, [b.op('Div', `${p}.tempered`, [shifted, S.temperature])]);
  const zero = b.constant(`${p}.zero`, 'float64', [], [0]);
  const keptHot = b.op('Where', `${p}.kept_exp`, [kept, hot, zero]);
  const normed = b.op('Div', `${p}.final_probs`, [keptHot, b.op('ReduceSum', `${p}.final_z`, [keptHot], { attrs: { keepdims: int(0) } })]);
  const cum = b.op('CumSum', `${p}.cum`, [normed, axis0(b, `${p}.final_axis`)]);
  const count = (name: string, x: string): string => b.op('ReduceSum', name, [b.op('Cast', `${name}.int`, [x], { attrs: { to: int(DataType.int64) } })], { attrs: { keepdims: int(0) } });
  const below = count(`${p}.below`, b.op('And', `${p}.short`, [b.op('Less', `${p}.under_draw`, [cum, draw]), kept]));
  // Rounding can leave the last cumulative probability under the draw: the host then takes the last candidate.
  const last = b.op('Sub', `${p}.last`, [count(`${p}.kept_count`, kept), b.constant(`${p}.one_id`, 'int64', [], [1])]);
  return b.op('Gather', `${p}.chosen`, [ids!, b.op('Min', `${p}.index`, [below, last])]);
}

/**
 * The next token, an int64 scalar, from penalized logits [vocab] and this step's uniform
 * draw (a float64 scalar): argmax at temperature 0 (the first of equal maxima), as the host.
 */
export function chooseToken(ctx: BuildContext, logits: string, draw: string): string {
  const { g } = ctx;
  const sampling = g.branch('sample.by_draw', 'int64', (b) => [sampleBranch(b, logits, draw)]);
  const greedy = g.branch('sample.greedy', 'int64', (b) => [b.op('ArgMax', 'sample.argmax', [logits], { attrs: { axis: int(0), keepdims: int(0) } })]);
  const hot = g.op('Greater', 'sample.hot', [S.temperature, g.constant('sample.cold', 'float64', [], [0])]);
  return g.op('If', 'sample.token', [hot], { attrs: { then_branch: graph(sampling), else_branch: graph(greedy) } });
}
