import { GemmaError } from '../util/errors.js';
import { rng } from '../util/random.js';

export interface SamplingParams {
  /** 0 is greedy (argmax). */
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  /** 0 disables: drop tokens below minP × the top probability. */
  minP: number;
  /** 1 disables: divide positive logits (multiply negative ones) of recent tokens. */
  repeatPenalty: number;
  /** How many recent tokens the penalty looks at (0: none, -1: the whole context). */
  repeatLastN: number;
}

/** Argmax with no filter and no penalty: prompt chunks in the decode loop, and the benchmarks. */
export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: 0 };

interface Candidate {
  id: number;
  logit: number;
  p: number;
}

/** llama.cpp's repeat penalty: each distinct recent token once. */
export function applyRepeatPenalty(logits: Float32Array, recent: readonly number[], penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(recent)) {
    const v = logits[id]!;
    logits[id] = v > 0 ? v / penalty : v * penalty;
  }
}

/** NaN or +Infinity among the logits: nothing can be sampled, and only damaged or overflowing weights produce them. */
export class NonFiniteLogitsError extends GemmaError {
  constructor(model = 'the model') {
    super(`${model} produced non-finite logits (NaN/Inf): the export is damaged or its weights overflow; convert it again with gemma quantize`);
  }
}

/** The largest logit, refusing NaN (which Math.max propagates) and +Infinity anywhere in the row. */
export function maxLogit(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  if (!Number.isFinite(max)) throw new NonFiniteLogitsError();
  return max;
}

export function argmax(logits: ArrayLike<number>): number {
  const max = maxLogit(logits);
  let best = 0;
  while (logits[best]! < max) best++;
  return best;
}

function softmax(c: Candidate[], temperature = 1): void {
  const max = c.reduce((m, x) => Math.max(m, x.logit), -Infinity);
  let sum = 0;
  for (const x of c) sum += (x.p = Math.exp((x.logit - max) / temperature));
  for (const x of c) x.p /= sum;
}

/** Ids of the `count` largest logits, largest first, ties in id order; one pass, a heap of `count` ids. */
export function largest(logits: ArrayLike<number>, count: number): number[] {
  const heap: number[] = [];
  // The root is the worst id kept: the lowest logit, the higher id among equals.
  const worse = (a: number, b: number): boolean => logits[a]! < logits[b]! || (logits[a] === logits[b] && a > b);
  const siftDown = (): void => {
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let id = 0; id < logits.length && count > 0; id++) {
    if (heap.length < count) {
      heap.push(id);
      for (let i = heap.length - 1, up = (i - 1) >> 1; i > 0 && worse(heap[i]!, heap[up]!); i = up, up = (i - 1) >> 1) [heap[i], heap[up]] = [heap[up]!, heap[i]!];
    } else if (logits[id]! > logits[heap[0]!]!) {
      heap[0] = id;
      siftDown();
    }
  }
  return heap.sort((a, b) => logits[b]! - logits[a]! || a - b);
}

/**
 * Without top-k, the ids the filters can keep, largest logits first: those min-p lets
 * through, and of them the prefix that top-p needs, found by growing a selection rather
 * than sorting the whole vocabulary.
 */
function unboundedKeep(logits: ArrayLike<number>, max: number, z: number, p: Pick<SamplingParams, 'topP' | 'minP'>): number[] {
  const floor = p.minP * (1 / z);
  let allowed = 0;
  for (let i = 0; i < logits.length; i++) if (Math.exp(logits[i]! - max) / z >= floor) allowed++;
  // Without top-p, every id min-p allows is kept: no prefix of them is enough.
  for (let count = p.topP >= 1 ? allowed : Math.min(allowed, 256); ; count = Math.min(allowed, count * 8)) {
    const ids = largest(logits, count);
    if (count === allowed) return ids;
    let mass = 0;
    if (ids.some((id) => (mass += Math.exp(logits[id]! - max) / z) >= p.topP)) return ids;
  }
}

/** The candidates that survive top-k, then top-p, then min-p, most probable first (probabilities before temperature). */
export function filterCandidates(logits: ArrayLike<number>, p: Pick<SamplingParams, 'topK' | 'topP' | 'minP'>): Candidate[] {
  const max = maxLogit(logits);
  let z = 0;
  let ids: number[];
  if (p.topK > 0 && p.topK < logits.length) {
    ids = largest(logits, p.topK);
    for (const id of ids) z += Math.exp(logits[id]! - max);
  } else {
    for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - max);
    ids = unboundedKeep(logits, max, z, p);
  }
  let c: Candidate[] = ids.map((id) => ({ id, logit: logits[id]!, p: Math.exp(logits[id]! - max) / z }));
  if (p.topP < 1) {
    let mass = 0;
    const keep = c.findIndex((x) => (mass += x.p) >= p.topP);
    c = c.slice(0, keep < 0 ? c.length : keep + 1);
  }
  if (p.minP > 0) {
    const floor = p.minP * c[0]!.p;
    c = c.filter((x) => x.p >= floor);
  }
  return c;
}

/** Picks next tokens: greedy at temperature 0, otherwise seeded sampling (same seed, same output). */
export class Sampler {
  private readonly random: () => number;

  constructor(private readonly params: SamplingParams, seed: number) {
    this.random = rng(seed);
  }

  /**
   * The uniform draws `next` would take for the next `count` tokens, for the decode loop to
   * sample with in the graph; none at temperature 0, where `next` draws nothing either.
   */
  draws(count: number): Float64Array {
    const out = new Float64Array(count);
    if (this.params.temperature > 0) for (let i = 0; i < count; i++) out[i] = this.random();
    return out;
  }

  /** `logits` is modified in place by the repeat penalty. */
  next(logits: Float32Array, history: readonly number[]): number {
    const { repeatLastN, repeatPenalty, temperature } = this.params;
    const window = repeatLastN < 0 ? history : history.slice(Math.max(0, history.length - repeatLastN));
    applyRepeatPenalty(logits, window, repeatPenalty);
    if (temperature <= 0) return argmax(logits);
    const c = filterCandidates(logits, this.params);
    softmax(c, temperature);
    let r = this.random();
    for (const x of c) if ((r -= x.p) <= 0) return x.id;
    return c[c.length - 1]!.id;
  }
}
