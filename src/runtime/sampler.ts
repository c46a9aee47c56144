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

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

function softmax(c: Candidate[], temperature = 1): void {
  const max = c.reduce((m, x) => Math.max(m, x.logit), -Infinity);
  let sum = 0;
  for (const x of c) sum += (x.p = Math.exp((x.logit - max) / temperature));
  for (const x of c) x.p /= sum;
}

/** The candidates that survive top-k, then top-p, then min-p, most probable first (probabilities before temperature). */
export function filterCandidates(logits: ArrayLike<number>, p: Pick<SamplingParams, 'topK' | 'topP' | 'minP'>): Candidate[] {
  let c: Candidate[] = Array.from(logits, (logit, id) => ({ id, logit, p: 0 })).sort((a, b) => b.logit - a.logit);
  if (p.topK > 0) c = c.slice(0, p.topK);
  softmax(c);
  if (p.topP < 1) {
    let mass = 0;
    const keep = c.findIndex((x) => (mass += x.p) >= p.topP);
    c = c.slice(0, keep + 1);
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
