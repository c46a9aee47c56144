import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { quantizeRows, type QuantizedRows, type QuantScheme } from './block-quant.js';
import type { QuantizeReply, QuantizeRequest } from './quantize-worker.js';

/** Below this many values a chunk stays in this thread: handing rows to a worker would cost more than it saves. */
const MIN_SHARED_VALUES = 1 << 20;

/** One worker thread running quantizeRows on the rows it is sent. */
class QuantizeWorker {
  private readonly worker = new Worker(new URL('./quantize-worker.js', import.meta.url));
  private readonly pending = new Map<number, { resolve: (q: QuantizedRows) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor() {
    this.worker.on('message', (reply: QuantizeReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('error' in reply) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply.rows);
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`a quantization worker stopped (exit code ${code})`)));
  }

  /** Quantizes `values`, whose buffer moves to the worker. */
  quantize(values: Float32Array, rows: number, cols: number, scheme: QuantScheme): Promise<QuantizedRows> {
    const id = this.nextId++;
    const request: QuantizeRequest = { id, values, rows, cols, scheme };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(request, [values.buffer as ArrayBuffer]);
    });
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** The rows of consecutive parts as one QuantizedRows. */
function concatRows(parts: QuantizedRows[]): QuantizedRows {
  const concat = <T extends Uint8Array | Float32Array>(arrays: T[], make: (length: number) => T): T => {
    const out = make(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  const first = parts[0]!;
  const zeroPoints = first.zeroPoints === undefined ? {} : { zeroPoints: concat(parts.map((p) => p.zeroPoints!), (n) => new Uint8Array(n)) };
  return {
    rows: parts.reduce((n, p) => n + p.rows, 0),
    cols: first.cols,
    blocksPerRow: first.blocksPerRow,
    codes: concat(parts.map((p) => p.codes), (n) => new Uint8Array(n)),
    scales: concat(parts.map((p) => p.scales), (n) => new Float32Array(n)),
    ...zeroPoints,
  };
}

/**
 * Block quantization spread over the CPU's cores. Rows quantize independently, so a large chunk is cut into one run
 * of rows per thread, this one included, and the results are joined in order: the bytes are those of quantizeRows.
 * Workers start with the first chunk large enough to share; `close` stops them.
 */
export class QuantizePool {
  private workers: QuantizeWorker[] | undefined;

  constructor(private readonly threads = availableParallelism()) {}

  async quantize(values: Float32Array, rows: number, cols: number, scheme: QuantScheme): Promise<QuantizedRows> {
    const parts = values.length < MIN_SHARED_VALUES ? 1 : Math.min(this.threads, rows);
    if (parts <= 1) return quantizeRows(values, rows, cols, scheme);
    if (values.length !== rows * cols) throw new RangeError(`expected ${rows}x${cols} values, got ${values.length}`);
    this.workers ??= Array.from({ length: this.threads - 1 }, () => new QuantizeWorker());
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((rows * i) / parts));
    const remote = this.workers.slice(0, parts - 1).map((worker, i) => {
      const [from, to] = [bounds[i + 1]!, bounds[i + 2]!];
      return worker.quantize(values.slice(from * cols, to * cols), to - from, cols, scheme);
    });
    const local = quantizeRows(values.subarray(0, bounds[1]! * cols), bounds[1]!, cols, scheme);
    return concatRows([local, ...(await Promise.all(remote))]);
  }

  async close(): Promise<void> {
    await Promise.all((this.workers ?? []).map((w) => w.terminate()));
    this.workers = undefined;
  }
}
