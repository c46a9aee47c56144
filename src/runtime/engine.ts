import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../checkpoint/config.js';
import { INPUT_IDS, LOGITS, LOGITS_TO_KEEP, newKey, newValue, pastKey, pastValue, POSITION_IDS } from '../onnx/io-names.js';
import { KvCache, type KvElements, type KvType } from './kv-cache.js';
import type { LoadedModel } from './model-session.js';

export interface EngineOptions {
  /** Most tokens the cache may hold (≤ max_position_embeddings). */
  ctxSize: number;
  /** Prompt tokens per graph run: bounds the attention scores' memory ([heads, chunk, context] floats). */
  prefillChunk: number;
}

export interface EngineCounters {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
}

const int64 = (values: number[], dims: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);

/** fp16 tensors travel as their bit patterns in a Uint16Array. */
const kvTensor = (type: KvType, data: KvElements, dims: number[]): ort.Tensor =>
  type === 'float16' ? new ort.Tensor('float16', data as Uint16Array, dims) : new ort.Tensor('float32', data as Float32Array, dims);

/** What chat sessions and generation need of an engine: the Engine itself, or one in a worker thread. */
export type EngineLike = Pick<Engine, 'spec' | 'options' | 'tokens' | 'counters' | 'rollback' | 'feed'>;

/**
 * Runs the exported graph over a growing token sequence, keeping every layer's keys and
 * values in JS (docs/graph-contract.md).
 */
export class Engine {
  readonly spec: ModelSpec;
  private readonly cache: KvCache;
  private readonly history: number[] = [];
  readonly counters: EngineCounters = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0 };

  constructor(readonly model: LoadedModel, readonly options: EngineOptions) {
    this.spec = model.spec;
    const kvType: KvType = model.manifest.ep === 'cuda' ? 'float16' : 'float32';
    this.cache = new KvCache(this.spec.config.num_hidden_layers, this.spec.config.num_key_value_heads, this.spec.config.head_dim, kvType);
  }

  /** Token ids whose keys and values are in the cache. */
  get tokens(): readonly number[] {
    return this.history;
  }

  /** Keeps only the first `length` cached tokens. */
  rollback(length: number): void {
    this.history.length = Math.min(this.history.length, length);
    this.cache.truncate(this.history.length);
  }

  private feeds(ids: number[]): Record<string, ort.Tensor> {
    const start = this.history.length;
    const { head_dim: hd, num_key_value_heads: kvh } = this.spec.config;
    const feeds: Record<string, ort.Tensor> = {
      [INPUT_IDS]: int64(ids, [1, ids.length]),
      [POSITION_IDS]: int64(ids.map((_, i) => start + i), [1, ids.length]),
    };
    this.cache.layers.forEach((layer, i) => {
      feeds[pastKey(i)] = kvTensor(this.cache.type, layer.keys, [kvh, layer.capacity, hd]);
      feeds[pastValue(i)] = kvTensor(this.cache.type, layer.values, [kvh, hd, layer.capacity]);
    });
    return feeds;
  }

  private async run(ids: number[], keep: number): Promise<Float32Array> {
    const feeds = this.feeds(ids);
    feeds[LOGITS_TO_KEEP] = int64([keep], [1]);
    const out = await this.model.session.run(feeds);
    for (let i = 0; i < this.spec.isSliding.length; i++) {
      this.cache.append(i, out[newKey(i)]!.data as KvElements, out[newValue(i)]!.data as KvElements);
    }
    this.history.push(...ids);
    return out[LOGITS]!.data as Float32Array;
  }

  /** One token at a time is decoding; anything longer is prompt processing. */
  private count(tokens: number, ms: number): void {
    const c = this.counters;
    if (tokens === 1) {
      c.decodeTokens += 1;
      c.decodeMs += ms;
    } else {
      c.prefillTokens += tokens;
      c.prefillMs += ms;
    }
  }

  /**
   * Feeds tokens (a prompt in chunks, or one decoded token) and returns the logits of the
   * last one, or of every one with `allPositions` (for perplexity).
   */
  async feed(ids: number[], allPositions = false): Promise<Float32Array[]> {
    if (this.history.length + ids.length > this.options.ctxSize) {
      throw new RangeError(`${this.history.length + ids.length} tokens exceed the context of ${this.options.ctxSize}`);
    }
    const started = performance.now();
    const vocab = this.spec.config.vocab_size;
    const out: Float32Array[] = [];
    for (let at = 0; at < ids.length; at += this.options.prefillChunk) {
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
}
