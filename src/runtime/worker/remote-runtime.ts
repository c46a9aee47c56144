import { variantName } from '../../quantize/precision.js';
import type { TurnOptions, TurnResult } from '../chat-session.js';
import type { Engine } from '../engine.js';
import { chatRuntime, type ChatRuntime, type RuntimeOptions } from '../runtime.js';
import { NonFiniteLogitsError } from '../sampler.js';
import { loadTokenizer } from '../tokenizer.js';
import type { RuntimeInfo } from './protocol.js';
import { openWorkerEngine } from './remote-stage.js';

/** Turn options as commands give them: the text callback and the interrupt flag belong to the runtime. */
export type WireTurnOptions = Omit<TurnOptions, 'onText' | 'interrupted'>;

/** A turn's result with the options it ran with: the sampling and seed that reproduce it. */
export type RanTurn = TurnResult & WireTurnOptions;

/**
 * `gemma run`'s runtime: the engine's stages in worker threads, the tokenizer and the chat
 * on this one. The tokenizer loads here while the workers load the sessions, and
 * `interrupt()` works while a turn runs, since this thread only waits for logits.
 */
export class RemoteRuntime {
  private stop = false;

  private constructor(private readonly dir: string, private readonly engine: Engine, private readonly runtime: ChatRuntime) {}

  static async open(dir: string, options: RuntimeOptions): Promise<{ runtime: RemoteRuntime; info: RuntimeInfo }> {
    const started = performance.now();
    const loading = openWorkerEngine(dir, options);
    // Held so that a tokenizer failure still awaits (and closes) the worker below.
    const tokenizer = loadTokenizer(dir).catch((err: unknown) => err as Error);
    const engine = await loading;
    try {
      const loaded = await tokenizer;
      if (loaded instanceof Error) throw loaded;
      const runtime = new RemoteRuntime(dir, engine, await chatRuntime(dir, engine, loaded, options));
      const info: RuntimeInfo = {
        ctxSize: engine.options.ctxSize, contextFit: engine.options.contextFit, defaults: runtime.runtime.defaults, hasTemplate: runtime.runtime.chat.hasTemplate,
        source: engine.manifest.source.label, variant: variantName(engine.manifest.weights), loadMs: performance.now() - started,
      };
      return { runtime, info };
    } catch (err) {
      await engine.close();
      throw err;
    }
  }

  private turn(options: WireTurnOptions, onText: (piece: string) => void): TurnOptions {
    this.stop = false;
    return { ...options, onText, interrupted: () => this.stop };
  }

  chat(text: string, turn: WireTurnOptions, onText: (piece: string) => void): Promise<RanTurn> {
    return this.ran(this.runtime.chat.chat(text, this.turn(turn, onText)), turn);
  }

  complete(text: string, turn: WireTurnOptions, onText: (piece: string) => void): Promise<RanTurn> {
    return this.ran(this.runtime.chat.complete(text, this.turn(turn, onText)), turn);
  }

  private async ran(result: Promise<TurnResult>, turn: WireTurnOptions): Promise<RanTurn> {
    try {
      return { ...(await result), ...turn };
    } catch (err) {
      // The sampler cannot know which export it samples from; this names the damaged one.
      throw err instanceof NonFiniteLogitsError ? new NonFiniteLogitsError(`the model in ${this.dir}`) : err;
    }
  }

  async reset(): Promise<void> {
    this.runtime.chat.reset();
  }

  /** Stops the answer being generated, after the current graph run (one token, or one run of the decode loop). */
  interrupt(): void {
    this.stop = true;
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
