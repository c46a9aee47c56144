import { logSoftmax } from '../../src/runtime/perplexity.js';

/** How far quantized logits are from the reference's, over every position. */
export interface LogitError {
  maxAbs: number;
  meanAbs: number;
  /** Fraction of positions whose argmax equals the reference's. */
  top1: number;
  /** Mean KL(reference ‖ quantized) of the softmax distributions, in nats. */
  kl: number;
  /** Largest |reference logit|: errors relative to it are comparable across models. */
  range: number;
}

const argmax = (x: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
};

export function logitError(got: ArrayLike<number>[], want: Float64Array[]): LogitError {
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let agree = 0;
  let kl = 0;
  let range = 0;
  for (let p = 0; p < want.length; p++) {
    const g = got[p]!;
    const w = want[p]!;
    for (let v = 0; v < w.length; v++) {
      const d = Math.abs(g[v]! - w[v]!);
      maxAbs = Math.max(maxAbs, d);
      range = Math.max(range, Math.abs(w[v]!));
      sumAbs += d;
      count++;
    }
    if (argmax(g) === argmax(w)) agree++;
    const lp = logSoftmax(w);
    const lq = logSoftmax(g);
    for (let v = 0; v < w.length; v++) kl += Math.exp(lp[v]!) * (lp[v]! - lq[v]!);
  }
  return { maxAbs, meanAbs: sumAbs / count, top1: agree / want.length, kl: kl / want.length, range };
}

/** The largest logit error as a fraction of the reference's logit range. */
export function relativeError(got: ArrayLike<number>[], want: Float64Array[]): number {
  const e = logitError(got, want);
  return e.maxAbs / e.range;
}
