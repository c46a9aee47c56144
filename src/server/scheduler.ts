import { ApiError } from './api-error.js';

interface Waiter<S> {
  resolve: (slot: S) => void;
  reject: (err: unknown) => void;
}

/**
 * Hands out the slots (each a KV cache over the one loaded model) to requests in the order they
 * come; at most `maxQueue` wait for one, and a request beyond that is refused at once (503).
 */
export class Scheduler<S> {
  private readonly free: S[];
  private readonly waiting: Waiter<S>[] = [];

  constructor(private readonly slots: readonly S[], private readonly maxQueue: number) {
    this.free = [...slots];
  }

  get busy(): number {
    return this.slots.length - this.free.length;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** A slot, at once or when the requests before this one are served; `signal` (the client went away) leaves the queue. */
  acquire(signal: AbortSignal): Promise<S> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    if (this.waiting.length >= this.maxQueue) {
      return Promise.reject(new ApiError(503, `the server is busy: ${this.slots.length} requests are being answered and ${this.waiting.length} wait; retry later`, 'unavailable_error', null, 'queue_full'));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter<S> = { resolve, reject };
      this.waiting.push(waiter);
      signal.addEventListener('abort', () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Gives the slot to the request that has waited longest, or back to the free ones. */
  release(slot: S): void {
    const next = this.waiting.shift();
    if (next !== undefined) next.resolve(slot);
    else this.free.push(slot);
  }
}
