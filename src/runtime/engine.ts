import type { ModelSpec } from '../checkpoint/config.js';
import type { Manifest } from '../export/manifest.js';
import { cachePlanOf, ringKeeps, type SlidingRing } from './kv-cache.js';
import type { ContextFit } from './memory-plan.js';
import { recentWindow, type LoopChoice } from './loop-feeds.js';
import type { StageInput, StageLike, StageOutput } from './stage.js';
import { Turns } from './turns.js';

export interface EngineOptions {
  /** Most tokens the cache may hold (≤ max_position_embeddings). */
  ctxSize: number;
  /** Prompt tokens per graph run: bounds the attention scores' memory ([heads, chunk, context] floats). */
  prefillChunk: number;
  /** Most decode steps per run of the export's decode loop; 1: one graph run per token, no loop. */
  decodeSteps: number;
  /** Set when the context or the prompt chunk was lowered to fit the memory available. */
  contextFit?: ContextFit;
}

export interface EngineCounters {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
}

/** What chat sessions and generation need of an engine. */
export type EngineLike = Pick<Engine, 'spec' | 'options' | 'tokens' | 'counters' | 'rollback' | 'feed' | 'decode'>;

/**
 * Runs an export's stages over a growing token sequence, each stage keeping its layers'
 * keys and values (docs/graph-contract.md). The stages live in this thread or in workers.
 */
export class Engine {
  private readonly history: number[] = [];
  readonly counters: EngineCounters = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0 };
  /** The sliding layers' ring, as every stage keeps it (docs/graph-contract.md, "Sliding layers' rings"). */
  private readonly ring: SlidingRing | undefined;

  /** `turns`: shared by engines over the same stages (each with its own caches), whose graph runs then take turns. */
  constructor(
    readonly manifest: Manifest, readonly spec: ModelSpec, private readonly stages: StageLike[], readonly options: EngineOptions,
    private readonly turns = new Turns(),
  ) {
    this.ring = cachePlanOf(manifest, spec, options.prefillChunk).ring;
  }

  /** Token ids whose keys and values are in the cache. */
  get tokens(): readonly number[] {
    return this.history;
  }

  /**
   * Keeps at most the first `length` cached tokens: all of them, unless the sliding layers'
   * rings have overwritten positions the window before `length` needs (a rollback longer
   * than the ring's slack), where the cache is emptied and `tokens` says so; the caller runs
   * again what it needs, as after any rollback.
   */
  rollback(length: number): void {
    const total = this.history.length;
    this.history.length = ringKeeps(this.ring, total, length) ? Math.min(total, length) : 0;
    for (const stage of this.stages) stage.truncate(this.history.length);
  }

  /** The tokens through every stage in turn, as one turn of the graph runs; the last stage's output. */
  private throughStages(ids: number[], start: number, keep: number): Promise<StageOutput | undefined> {
    return this.turns.take(async () => {
      let input: StageInput = { start, keep, ids };
      let out: StageOutput | undefined;
      for (const stage of this.stages) {
        out = await stage.run(input);
        if ('hidden' in out) input = { start, keep, hidden: out.hidden };
      }
      return out;
    });
  }

  /** The tokens through every stage; the last one's logits. */
  private async run(ids: number[], keep: number): Promise<Float32Array> {
    const start = this.history.length;
    let out: StageOutput | undefined;
    try {
      out = await this.throughStages(ids, start, keep);
    } catch (err) {
      // Stages before the failing one have cached these tokens already.
      for (const stage of this.stages) stage.truncate(start);
      throw err;
    }
    if (out === undefined || !('logits' in out)) throw new Error('the last stage returned no logits');
    this.history.push(...ids);
    return out.logits;
  }

  /** One token at a time, or a run of the decode loop, is decoding; anything longer is prompt processing. */
  private count(tokens: number, ms: number, decoding = tokens === 1): void {
    const c = this.counters;
    if (decoding) {
      c.decodeTokens += tokens;
      c.decodeMs += ms;
    } else {
      c.prefillTokens += tokens;
      c.prefillMs += ms;
    }
  }

  /**
   * Feeds tokens (a prompt in chunks, or one decoded token) and returns the logits of the
   * last one, or of every one with `allPositions` (for perplexity). `interrupted` is polled
   * between chunks: once it holds, the rest is not run and nothing is returned.
   */
  async feed(ids: number[], allPositions = false, interrupted?: () => boolean): Promise<Float32Array[]> {
    if (this.history.length + ids.length > this.options.ctxSize) {
      throw new RangeError(`${this.history.length + ids.length} tokens exceed the context of ${this.options.ctxSize}`);
    }
    const started = performance.now();
    const vocab = this.spec.config.vocab_size;
    const out: Float32Array[] = [];
    for (let at = 0; at < ids.length; at += this.options.prefillChunk) {
      if (at > 0 && interrupted?.() === true) {
        this.count(at, performance.now() - started, false);
        return [];
      }
      const chunk = ids.slice(at, at + this.options.prefillChunk);
      const last = at + chunk.length === ids.length;
      const logits = await this.run(chunk, allPositions ? 0 : 1);
      if (allPositions || last) {
        for (let p = 0; p < logits.length / vocab; p++) out.push(logits.subarray(p * vocab, (p + 1) * vocab));
      }
    }
    this.count(ids.length, performance.now() - started);
    return out;
  }

  /**
   * One run of the decode loop (options.decodeSteps > 1): feeds `token` (sampled, not yet
   * cached), then each token a step samples, for at most `steps` steps or until a stop id is
   * sampled. Returns the sampled tokens; all but the last are then cached, as after feeding
   * them one at a time.
   */
  async decode(token: number, steps: number, choice: LoopChoice): Promise<number[]> {
    const start = this.history.length;
    if (start + steps > this.options.ctxSize) throw new RangeError(`${start + steps} tokens exceed the context of ${this.options.ctxSize}`);
    if (this.stages.length !== 1) throw new Error('the decode loop runs on one-graph exports');
    const started = performance.now();
    const recent = recentWindow(this.history, token, choice.sampling.repeatLastN);
    let sampled: number[];
    try {
      sampled = await this.turns.take(() => this.stages[0]!.decode({ ...choice, start, ids: [token], steps, recent }));
    } catch (err) {
      this.stages[0]!.truncate(start);
      throw err;
    }
    this.history.push(token, ...sampled.slice(0, -1));
    this.count(sampled.length, performance.now() - started, true);
    return sampled;
  }

  /** Releases every stage's session (and worker). */
  async close(): Promise<void> {
    await Promise.all(this.stages.map((s) => s.close()));
  }
}
