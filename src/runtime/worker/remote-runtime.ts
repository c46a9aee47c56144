import { Worker } from 'node:worker_threads';
import { GemmaError } from '../../util/errors.js';
import type { TurnResult } from '../chat-session.js';
import type { RuntimeOptions } from '../runtime.js';
import { INTERRUPT, type Request, type Response, type RuntimeInfo, type WireTurnOptions } from './protocol.js';

/** The chat runtime in a worker thread, one request at a time; `interrupt()` works while a turn runs. */
export class RemoteRuntime {
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;
  private onText: (piece: string) => void = () => undefined;
  private pending: { resolve: (r: Response) => void; reject: (e: Error) => void } | undefined;

  private constructor() {
    this.worker = new Worker(new URL('./host.js', import.meta.url), { workerData: { interrupt: this.flag.buffer } });
    this.worker.on('message', (r: Response) => {
      if (r.type === 'text') return this.onText(r.piece);
      const p = this.pending;
      this.pending = undefined;
      if (r.type === 'error') p?.reject(r.expected ? new GemmaError(r.message) : new Error(r.message));
      else p?.resolve(r);
    });
    this.worker.on('error', (err) => this.pending?.reject(err));
  }

  static async open(dir: string, options: RuntimeOptions): Promise<{ runtime: RemoteRuntime; info: RuntimeInfo }> {
    const runtime = new RemoteRuntime();
    try {
      const r = await runtime.request({ type: 'open', dir, options });
      if (r.type !== 'opened') throw new Error(`unexpected ${r.type}`);
      return { runtime, info: r.info };
    } catch (err) {
      await runtime.close();
      throw err;
    }
  }

  private request(req: Request): Promise<Response> {
    if (this.pending !== undefined) throw new Error('one request at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(req);
    });
  }

  private async turn(req: Request, onText: (piece: string) => void): Promise<TurnResult> {
    this.onText = onText;
    const r = await this.request(req);
    if (r.type !== 'done') throw new Error(`unexpected ${r.type}`);
    return r.result;
  }

  chat(text: string, turn: WireTurnOptions, onText: (piece: string) => void): Promise<TurnResult> {
    return this.turn({ type: 'chat', text, turn }, onText);
  }

  complete(text: string, turn: WireTurnOptions, onText: (piece: string) => void): Promise<TurnResult> {
    return this.turn({ type: 'complete', text, turn }, onText);
  }

  async reset(): Promise<void> {
    await this.request({ type: 'reset' });
  }

  /** Stops the answer being generated, after the current token. */
  interrupt(): void {
    Atomics.store(this.flag, INTERRUPT, 1);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
