import { Worker } from 'node:worker_threads';
import type { ModelSpec } from '../../checkpoint/config.js';
import type { Manifest } from '../../quantize/manifest.js';
import { GemmaError } from '../../util/errors.js';
import type { EngineCounters, EngineLike, EngineOptions } from '../engine.js';
import type { EngineLoadOptions } from '../runtime.js';
import type { OpenedEngine, Request, Response } from './protocol.js';

/**
 * An Engine in a worker thread, behind the same interface: the main thread stays free
 * while the session loads and runs. The token history is mirrored here so that chat
 * sessions read it without a round trip.
 */
export class RemoteEngine implements EngineLike {
  private readonly worker = new Worker(new URL('./host.js', import.meta.url));
  private readonly history: number[] = [];
  private pending: { resolve: (r: Response) => void; reject: (e: Error) => void } | undefined;
  private opened: OpenedEngine | undefined;
  counters: EngineCounters = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0 };

  private constructor() {
    this.worker.on('message', (r: Response) => this.settle(r));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the engine worker stopped (exit code ${code})`)));
  }

  /** Starts the worker's session load; resolves once the session is ready. */
  static async open(dir: string, options: EngineLoadOptions): Promise<RemoteEngine> {
    const engine = new RemoteEngine();
    try {
      const r = await engine.request({ type: 'open', dir, options });
      if (r.type !== 'opened') throw new Error(`unexpected ${r.type}`);
      engine.opened = r.engine;
      return engine;
    } catch (err) {
      await engine.close();
      throw err;
    }
  }

  private get engine(): OpenedEngine {
    if (this.opened === undefined) throw new Error('engine not opened');
    return this.opened;
  }

  get spec(): ModelSpec {
    return this.engine.spec;
  }

  get options(): EngineOptions {
    return this.engine.options;
  }

  get manifest(): Manifest {
    return this.engine.manifest;
  }

  get tokens(): readonly number[] {
    return this.history;
  }

  rollback(length: number): void {
    this.history.length = Math.min(this.history.length, length);
    this.worker.postMessage({ type: 'rollback', length: this.history.length } satisfies Request);
  }

  async feed(ids: number[], allPositions = false): Promise<Float32Array[]> {
    if (this.history.length + ids.length > this.options.ctxSize) {
      throw new RangeError(`${this.history.length + ids.length} tokens exceed the context of ${this.options.ctxSize}`);
    }
    const r = await this.request({ type: 'feed', ids, allPositions });
    if (r.type !== 'fed') throw new Error(`unexpected ${r.type}`);
    this.history.push(...ids);
    this.counters = r.counters;
    return r.logits;
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }

  private request(req: Request): Promise<Response> {
    if (this.pending !== undefined) throw new Error('one request at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(req);
    });
  }

  private settle(r: Response): void {
    const p = this.pending;
    this.pending = undefined;
    if (r.type === 'error') p?.reject(r.expected ? new GemmaError(r.message) : new Error(r.message));
    else p?.resolve(r);
  }

  private fail(err: Error): void {
    this.pending?.reject(err);
    this.pending = undefined;
  }
}
