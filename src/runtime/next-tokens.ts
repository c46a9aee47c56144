import type { EngineLike } from './engine.js';
import type { GenerateOptions } from './generate.js';
import type { Sampler } from './sampler.js';

/**
 * The tokens after the `produced` already generated, the first call sampling from the
 * prompt's logits. Each call first feeds the last token returned: the caller stops calling
 * once that token ends the answer.
 */
export type NextTokens = (produced: number) => Promise<number[]>;

/** One graph run and one host sample per token. */
export function stepByStep(engine: EngineLike, logits: Float32Array, sampler: Sampler): NextTokens {
  let last: number | undefined;
  return async () => {
    const next = last === undefined ? logits : (await engine.feed([last]))[0]!;
    last = sampler.next(next, engine.tokens);
    return [last];
  };
}

/**
 * Runs of the export's decode loop, of 1, 2, 4 … up to engine.options.decodeSteps steps, so
 * that the first tokens still stream at once; no run feeds more tokens than the step-by-step
 * path would (-n, the context). The host samples the first token and hands the loop the
 * next draws of the same generator, so --seed gives the step-by-step path's tokens.
 */
export function decodeLoop(engine: EngineLike, logits: Float32Array, sampler: Sampler, o: GenerateOptions): NextTokens {
  let last: number | undefined;
  let steps = 1;
  const stopIds = o.ignoreEos === true ? [] : [...o.stopIds];
  return async (produced) => {
    if (last === undefined) return [(last = sampler.next(logits, engine.tokens))];
    const room = Math.min(engine.options.ctxSize - engine.tokens.length, o.maxTokens < 0 ? Infinity : o.maxTokens - produced);
    const count = Math.min(steps, room);
    steps = Math.min(steps * 2, engine.options.decodeSteps);
    const sampled = await engine.decode(last, count, { sampling: o.sampling, draws: sampler.draws(count), stopIds });
    last = sampled.at(-1)!;
    return sampled;
  };
}
