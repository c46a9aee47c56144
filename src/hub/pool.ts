import { childController } from './http.js';

/**
 * Runs `task` over the items, `limit` at a time, and sums what the tasks return. The first
 * failure aborts the others (through the signal they are given) and is the error thrown.
 */
export async function runPool<T>(items: readonly T[], limit: number, parent: AbortSignal | undefined, task: (item: T, signal: AbortSignal) => Promise<number>): Promise<number> {
  const { controller, dispose } = childController(parent);
  const signal = controller.signal;
  let next = 0;
  let sum = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        // Not `sum += await ...`: that reads `sum` before the await and loses the other workers' additions.
        const result = await task(item, signal);
        sum += result;
      } catch (error) {
        failure ??= { error };
        controller.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  dispose();
  if (failure !== undefined) throw failure.error;
  return sum;
}
