import type { Engine } from './engine.js';

export interface PerplexityResult {
  /** Mean negative log-likelihood per scored token, in nats. */
  nll: number;
  ppl: number;
  /** Tokens scored (every token of each window but its first). */
  tokens: number;
  windows: number;
}

/** log Σ exp(logits), computed in float64. */
function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
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
    engine.rollback(0);
    const logits = await engine.feed(chunk, true);
    for (let p = 0; p + 1 < chunk.length; p++) nll -= logProb(logits[p]!, chunk[p + 1]!);
    tokens += chunk.length - 1;
    onWindow?.(w + 1, total);
  }
  engine.rollback(0);
  const mean = tokens > 0 ? nll / tokens : NaN;
  return { nll: mean, ppl: Math.exp(mean), tokens, windows: total };
}
