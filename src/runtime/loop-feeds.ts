import * as ort from 'onnxruntime-node';
import { INPUT_IDS, MAX_STEPS, POSITION_IDS, SAMPLING_INPUTS as S, STOP_IDS } from '../onnx/io-names.js';
import type { SamplingParams } from './sampler.js';

/** How the decode loop picks its tokens: the sampling settings, the host's uniform draws (one per step), the end tokens. */
export interface LoopChoice {
  sampling: SamplingParams;
  /** From the host sampler's generator (Sampler.draws), so that --seed gives the step-by-step path's tokens. */
  draws: Float64Array;
  /** Sampling one of these ends the run after its step. */
  stopIds: readonly number[];
}

/** One run of the decode loop: feed `ids` from position `start`, then what each step samples, for at most `steps` steps. */
export interface DecodeInput extends LoopChoice {
  start: number;
  ids: number[];
  steps: number;
  /** The repeat penalty's window at the first step: the last repeat_last_n tokens of the cache and `ids`. */
  recent: number[];
}

const int64 = (values: number[], dims: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);
const float64 = (value: number): ort.Tensor => new ort.Tensor('float64', Float64Array.of(value), [1]);

/** The tokens the first step's repeat penalty looks at, as the host sampler would take them from the history after feeding `token`. */
export function recentWindow(history: readonly number[], token: number, repeatLastN: number): number[] {
  const all = [...history, token];
  return repeatLastN < 0 ? all : all.slice(Math.max(0, all.length - repeatLastN));
}

/** The loop graph's inputs other than the cache (docs/graph-contract.md, "The decode loop"). */
export function loopFeeds(input: DecodeInput, vocab: number): Record<string, ort.Tensor> {
  const s = input.sampling;
  return {
    [INPUT_IDS]: int64(input.ids, [1, input.ids.length]),
    [POSITION_IDS]: int64([input.start], [1, 1]),
    [MAX_STEPS]: int64([input.steps], []),
    [STOP_IDS]: int64([...input.stopIds], [input.stopIds.length]),
    [S.draws]: new ort.Tensor('float64', input.draws, [input.draws.length]),
    [S.temperature]: float64(s.temperature),
    // Top-k off is every token, sorted: the host's order (logit, then id) over the whole vocabulary.
    [S.topK]: int64([s.topK > 0 && s.topK < vocab ? s.topK : vocab], [1]),
    [S.topP]: float64(s.topP),
    [S.minP]: float64(s.minP),
    // A window of 0 tokens would still grow with the loop's tokens: a penalty of 1 leaves every logit as it is.
    [S.repeatPenalty]: new ort.Tensor('float32', Float32Array.of(s.repeatLastN === 0 ? 1 : s.repeatPenalty), [1]),
    [S.repeatLastN]: int64([s.repeatLastN < 0 ? Number.MAX_SAFE_INTEGER : s.repeatLastN], [1]),
    [S.recentIds]: int64(input.recent, [input.recent.length]),
  };
}
