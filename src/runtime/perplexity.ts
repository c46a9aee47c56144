import type { Engine } from './engine.js';
import { maxLogit } from './sampler.js';

export interface PerplexityResult {
  /** Mean negative log-likelihood per scored token, in nats. */
  nll: number;
  ppl: number;
  /** Tokens scored (every token of each window but its first). */
  tokens: number;
  windows: number;
}

/** log Σ exp(logits), computed in float64; non-finite logits are refused as the sampler refuses them. */
function logSumExp(logits: ArrayLike<number>): number {
  const max = maxLogit(logits);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/** log p(target) under softmax(logits), computed in float64. */
function logProb(logits: ArrayLike<number>, target: number): number {
  return logits[target]! - logSumExp(logits);
}

/** Every log-probability of softmax(logits), in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const lse = logSumExp(logits);
  return Float64Array.from({ length: logits.length }, (_, i) => logits[i]! - lse);
}

/**
 * Positions per graph run when every position's logits are kept. Gemma's 256000 logits are 1 MB per position, and the
 * final soft-cap holds a few copies of them: on the 2B int4 export, a 2048-token window scored 128 positions at a time
 * peaked at 3.6 GB and took 42 s, at the 512 of prompt processing 6.3 GB and 51 s.
 */
export const SCORING_CHUNK = 128;

/**
 * Σ −log p of a window's tokens after its first, from an empty cache. The window goes in a prefill chunk at a time,
 * so that only one chunk's logits are alive (a whole 8192-token window of Gemma's 256000 logits would be 8.4 GB).
 */
async function windowNll(engine: Engine, window: number[]): Promise<number> {
  engine.rollback(0);
  const step = engine.options.prefillChunk;
  let nll = 0;
  for (let at = 0; at + 1 < window.length; at += step) {
    const part = window.slice(at, at + step);
    const logits = await engine.feed(part, true);
    for (let p = 0; p < part.length && at + p + 1 < window.length; p++) nll -= logProb(logits[p]!, window[at + p + 1]!);
  }
  return nll;
}

/**
 * Perplexity the llama-perplexity way: the token sequence is cut into consecutive windows
 * of `window` tokens, each evaluated from an empty cache, every token after a window's
 * first scored against the prediction before it.
 */
export async function perplexity(engine: Engine, ids: number[], window: number, onWindow?: (done: number, total: number) => void): Promise<PerplexityResult> {
  const total = Math.ceil(ids.length / window);
  let nll = 0;
  let tokens = 0;
  for (let w = 0; w < total; w++) {
    const chunk = ids.slice(w * window, (w + 1) * window);
    if (chunk.length < 2) break;
    nll += await windowNll(engine, chunk);
    tokens += chunk.length - 1;
    onWindow?.(w + 1, total);
  }
  engine.rollback(0);
  const mean = tokens > 0 ? nll / tokens : NaN;
  return { nll: mean, ppl: Math.exp(mean), tokens, windows: total };
}
