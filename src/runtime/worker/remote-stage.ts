import { Worker } from 'node:worker_threads';
import type { StagePlan } from '../../onnx/stages.js';
import { GemmaError } from '../../util/errors.js';
import { Engine, type EngineOptions } from '../engine.js';
import { Turns } from '../turns.js';
import { readExport, type ExportInfo } from '../model-session.js';
import { engineOptions, type EngineLoadOptions } from '../runtime.js';
import type { DecodeInput } from '../loop-feeds.js';
import type { StageInput, StageLike, StageOutput } from '../stage.js';
import type { Request, Response, StageLoad } from './protocol.js';

/**
 * A stage in its own worker thread, behind the same interface: the main thread stays free while it loads and runs.
 * It runs over the worker's first KV cache; `slot(i)` gives the same session over cache `i`.
 */
export class RemoteStage implements StageLike {
  private readonly worker = new Worker(new URL('./host.js', import.meta.url));
  /** Answered in the order sent: the worker handles its messages one at a time. */
  private readonly pending: { resolve: (r: Response) => void; reject: (e: Error) => void }[] = [];
  private loaded: StagePlan | undefined;

  private constructor() {
    this.worker.on('message', (r: Response) => this.settle(r));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`a stage worker stopped (exit code ${code})`)));
  }

  /** Starts the worker's session load; resolves once the session is ready. */
  static async open(dir: string, stage: number, load: StageLoad): Promise<RemoteStage> {
    const remote = new RemoteStage();
    try {
      const r = await remote.request({ type: 'open', dir, stage, ...load });
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

  run(input: StageInput): Promise<StageOutput> {
    return this.runIn(0, input);
  }

  decode(input: DecodeInput): Promise<number[]> {
    return this.decodeIn(0, input);
  }

  truncate(length: number): void {
    this.worker.postMessage({ type: 'truncate', slot: 0, length } satisfies Request);
  }

  /** This stage's session over KV cache `slot`: its runs queue with the other slots'; closing it empties its cache, the worker stays. */
  slot(slot: number): StageLike {
    const truncate = (length: number): void => this.worker.postMessage({ type: 'truncate', slot, length } satisfies Request);
    return {
      plan: this.plan,
      run: (input) => this.runIn(slot, input),
      decode: (input) => this.decodeIn(slot, input),
      truncate,
      close: async () => truncate(0),
    };
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private async runIn(slot: number, input: StageInput): Promise<StageOutput> {
    const r = await this.request({ type: 'run', slot, input }, 'hidden' in input ? [input.hidden.buffer as ArrayBuffer] : []);
    if (r.type !== 'ran') throw new Error(`unexpected ${r.type}`);
    return r.output;
  }

  private async decodeIn(slot: number, input: DecodeInput): Promise<number[]> {
    const r = await this.request({ type: 'decode', slot, input }, [input.draws.buffer as ArrayBuffer]);
    if (r.type !== 'decoded') throw new Error(`unexpected ${r.type}`);
    return r.tokens;
  }

  private request(req: Request, transfer: ArrayBuffer[] = []): Promise<Response> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.worker.postMessage(req, transfer);
    });
  }

  private settle(r: Response): void {
    const p = this.pending.shift();
    if (r.type === 'error') p?.reject(r.expected ? new GemmaError(r.message) : new Error(r.message));
    else p?.resolve(r);
  }

  private fail(err: Error): void {
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}

/** Opens every stage in its own worker at once; if any fails to load, closes the others and throws the first failure. */
async function openStages(dir: string, count: number, load: StageLoad): Promise<RemoteStage[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => RemoteStage.open(dir, i, load)));
  const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed === undefined) return opened;
  await Promise.all(opened.map((s) => s.close()));
  throw failed.reason;
}

/** An export's stages, each loaded in its own worker, and the engine options they run with. */
async function openExportStages(dir: string, options: EngineLoadOptions): Promise<{ info: ExportInfo; engineOpts: EngineOptions; stages: RemoteStage[] }> {
  const info = await readExport(dir, options.ep);
  const engineOpts = engineOptions(info, options);
  const stages = await openStages(dir, info.manifest.stages.length, { threads: options.threads, ep: info.ep, decodeLoop: engineOpts.decodeSteps > 1, prefillChunk: engineOpts.prefillChunk });
  return { info, engineOpts, stages };
}

/**
 * An Engine whose stages each load and run in a worker thread: onnxruntime prepacks a
 * graph's weights on one thread, so the stages' sessions load in parallel
 * (docs/benchmarks-history.md, "Change: two graphs that load in parallel").
 */
export async function openWorkerEngine(dir: string, options: EngineLoadOptions): Promise<Engine> {
  const { info, engineOpts, stages } = await openExportStages(dir, options);
  return new Engine(info.manifest, info.spec, stages, engineOpts);
}

/** Engines sharing one set of worker stages, each over its own KV caches (`options.caches` of them), their graph runs taking turns; closing them ends the workers. */
export interface SlotEngines {
  engines: Engine[];
  close(): Promise<void>;
}

export async function openSlotEngines(dir: string, options: EngineLoadOptions): Promise<SlotEngines> {
  const { info, engineOpts, stages } = await openExportStages(dir, options);
  const turns = new Turns();
  const engines = Array.from({ length: options.caches ?? 1 }, (_, i) => new Engine(info.manifest, info.spec, stages.map((s) => s.slot(i)), engineOpts, turns));
  return { engines, close: async () => void (await Promise.all(stages.map((s) => s.close()))) };
}
