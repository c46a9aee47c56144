import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError, UnreachableError } from './http.js';

export interface RetryPolicy {
  attempts: number;
  /** First delay; doubled on every further retry, up to MAX_DELAY_MS. */
  delayMs: number;
  /** Retry UnreachableError too (downloads), or let it through at once (API calls, so that a cached copy can stand in). */
  retryUnreachable: boolean;
  signal?: AbortSignal;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

const MAX_DELAY_MS = 30_000;

function retryable(err: unknown, policy: RetryPolicy): err is Error {
  return err instanceof TransientError || (policy.retryUnreachable && err instanceof UnreachableError);
}

/** Runs `fn` until it succeeds, a non-transient error occurs, or the attempts are spent (the last error is thrown). */
export async function withRetries<T>(policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!retryable(err, policy) || attempt >= policy.attempts || policy.signal?.aborted) throw err;
      const backoff = Math.min(policy.delayMs * 2 ** (attempt - 1), MAX_DELAY_MS);
      // Jitter keeps parallel downloads from retrying in lockstep.
      const delayMs = Math.round(Math.max(backoff, err instanceof TransientError ? err.retryAfterMs ?? 0 : 0) * (0.8 + 0.4 * Math.random()));
      policy.onRetry?.({ attempt: attempt + 1, delayMs, reason: err.message });
      await sleep(delayMs, undefined, { signal: policy.signal });
    }
  }
}
