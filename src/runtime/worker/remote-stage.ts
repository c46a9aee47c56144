import { Worker } from 'node:worker_threads';
import type { StagePlan } from '../../onnx/stages.js';
import type { ExecutionProvider } from '../../quantize/precision.js';
import { GemmaError } from '../../util/errors.js';
import { Engine } from '../engine.js';
import { readExport } from '../model-session.js';
import { engineOptions, type EngineLoadOptions } from '../runtime.js';
import type { DecodeInput } from '../loop-feeds.js';
import type { StageInput, StageLike, StageOutput } from '../stage.js';
import type { Request, Response } from './protocol.js';

/** A stage in its own worker thread, behind the same interface: the main thread stays free while it loads and runs. */
export class RemoteStage implements StageLike {
  private readonly worker = new Worker(new URL('./host.js', import.meta.url));
  private pending: { resolve: (r: Response) => void; reject: (e: Error) => void } | undefined;
  private loaded: StagePlan | undefined;

  private constructor() {
    this.worker.on('message', (r: Response) => this.settle(r));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`a stage worker stopped (exit code ${code})`)));
  }

  /** Starts the worker's session load; resolves once the session is ready. */
  static async open(dir: string, stage: number, threads: number, ep: ExecutionProvider, decodeLoop: boolean): Promise<RemoteStage> {
    const remote = new RemoteStage();
    try {
      const r = await remote.request({ type: 'open', dir, stage, threads, ep, decodeLoop });
      if (r.type !== 'opened') throw new Error(`unexpected ${r.type}`);
      remote.loaded = r.plan;
      return remote;
    } catch (err) {
      await remote.close();
      throw err;
    }
  }

  get plan(): StagePlan {
    if (this.loaded === undefined) throw new Error('stage not opened');
    return this.loaded;
  }

  async run(input: StageInput): Promise<StageOutput> {
    const r = await this.request({ type: 'run', input }, 'hidden' in input ? [input.hidden.buffer as ArrayBuffer] : []);
    if (r.type !== 'ran') throw new Error(`unexpected ${r.type}`);
    return r.output;
  }

  async decode(input: DecodeInput): Promise<number[]> {
    const r = await this.request({ type: 'decode', input }, [input.draws.buffer as ArrayBuffer]);
    if (r.type !== 'decoded') throw new Error(`unexpected ${r.type}`);
    return r.tokens;
  }

  truncate(length: number): void {
    this.worker.postMessage({ type: 'truncate', length } satisfies Request);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private request(req: Request, transfer: ArrayBuffer[] = []): Promise<Response> {
    if (this.pending !== undefined) throw new Error('one request at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(req, transfer);
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

/** Opens every stage in its own worker at once; if any fails to load, closes the others and throws the first failure. */
async function openStages(dir: string, count: number, threads: number, ep: ExecutionProvider, decodeLoop: boolean): Promise<RemoteStage[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => RemoteStage.open(dir, i, threads, ep, decodeLoop)));
  const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed === undefined) return opened;
  await Promise.all(opened.map((s) => s.close()));
  throw failed.reason;
}

/**
 * An Engine whose stages each load and run in a worker thread: onnxruntime prepacks a
 * graph's weights on one thread, so the stages' sessions load in parallel
 * (docs/benchmarks-history.md, "Change: two graphs that load in parallel").
 */
export async function openWorkerEngine(dir: string, options: EngineLoadOptions): Promise<Engine> {
  const info = await readExport(dir, options.ep);
  const engineOpts = engineOptions(info, options);
  const stages = await openStages(dir, info.manifest.stages.length, options.threads, info.ep, engineOpts.decodeSteps > 1);
  return new Engine(info.manifest, info.spec, stages, engineOpts);
}
