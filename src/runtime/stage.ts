import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../checkpoint/config.js';
import { hiddenStates, INPUT_IDS, LOGITS, LOGITS_TO_KEEP, newKey, newValue, pastKey, pastValue, POSITION_IDS, TOKENS } from '../onnx/io-names.js';
import type { StagePlan } from '../onnx/stages.js';
import { KvCache, type CachePlan, type KvElements, type KvType } from './kv-cache.js';
import { loopFeeds, type DecodeInput } from './loop-feeds.js';
import { GREEDY } from './sampler.js';

/** What a stage runs on: the new tokens' ids (first stage) or the residual stream entering it, [S, hidden]. */
export type StageInput = { start: number; keep: number } & ({ ids: number[] } | { hidden: Float32Array });

/** The residual stream for the next stage, or the kept positions' logits from the last one. */
export type StageOutput = { hidden: Float32Array } | { logits: Float32Array };

/** A stage in this thread or in a worker. */
export interface StageLike {
  readonly plan: StagePlan;
  run(input: StageInput): Promise<StageOutput>;
  /** One run of the decode loop (a stage loaded with it): the sampled tokens; all but the last are now cached. */
  decode(input: DecodeInput): Promise<number[]>;
  /** Keeps only the first `length` cached positions. */
  truncate(length: number): void;
  close(): Promise<void>;
}


const int64 = (values: number[], dims: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);

/** fp16 tensors travel as their bit patterns in a Uint16Array. */
const kvTensor = (type: KvType, data: KvElements, dims: number[]): ort.Tensor =>
  type === 'float16' ? new ort.Tensor('float16', data as Uint16Array, dims) : new ort.Tensor('float32', data as Float32Array, dims);

/**
 * One stage's session and the KV cache of its layers, kept in JS in the graph's input
 * layouts (docs/graph-contract.md).
 */
export class Stage implements StageLike {
  /** Read by tests to see which layers keep a ring. */
  readonly cache: KvCache;
  private readonly last: boolean;

  /**
   * `profiling`: the session was created with onnxruntime's profiler on, whose file is written at close.
   * `loop`: the session is the decode loop's graph (the whole model), which runs prompt chunks as one step.
   */
  constructor(
    readonly plan: StagePlan, private readonly session: ort.InferenceSession, private readonly spec: ModelSpec, caches: CachePlan,
    private readonly profiling = false, private readonly loop = false,
  ) {
    const [start, end] = plan.layers;
    const limits = spec.isSliding.slice(start, end).map((sliding) => (sliding ? caches.ring?.rows ?? Infinity : Infinity));
    this.cache = new KvCache(limits, spec.config.num_key_value_heads, spec.config.head_dim, caches.layout);
    this.last = end === spec.config.num_hidden_layers;
  }

  private feeds(input: StageInput): Record<string, ort.Tensor> {
    const { hidden_size: hidden } = this.spec.config;
    const [first] = this.plan.layers;
    const count = 'ids' in input ? input.ids.length : input.hidden.length / hidden;
    const feeds: Record<string, ort.Tensor> = {
      [POSITION_IDS]: int64(Array.from({ length: count }, (_, i) => input.start + i), [1, count]),
    };
    if ('ids' in input) feeds[INPUT_IDS] = int64(input.ids, [1, count]);
    else feeds[hiddenStates(first)] = new ort.Tensor('float32', input.hidden, [count, hidden]);
    if (this.last) feeds[LOGITS_TO_KEEP] = int64([input.keep], [1]);
    return this.withCache(feeds);
  }

  /** Every layer's whole cache, fed as the arrays it is kept in. */
  private withCache(feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    const { head_dim: hd, num_key_value_heads: kvh } = this.spec.config;
    const [first] = this.plan.layers;
    this.cache.layers.forEach((layer, i) => {
      const { type, transposedValues } = this.cache.layout;
      feeds[pastKey(first + i)] = kvTensor(type, layer.keys, [kvh, layer.capacity, hd]);
      feeds[pastValue(first + i)] = kvTensor(type, layer.values, transposedValues ? [kvh, hd, layer.capacity] : [kvh, layer.capacity, hd]);
    });
    return feeds;
  }

  private checkStart(start: number): void {
    if (start !== this.cache.length) throw new Error(`stage ${this.plan.file} holds ${this.cache.length} positions, asked to run at ${start}`);
  }

  private appendRows(out: ort.InferenceSession.OnnxValueMapType): void {
    const [first, end] = this.plan.layers;
    for (let i = first; i < end; i++) this.cache.append(i - first, out[newKey(i)]!.data as KvElements, out[newValue(i)]!.data as KvElements);
  }

  async run(input: StageInput): Promise<StageOutput> {
    this.checkStart(input.start);
    if (this.loop) return { logits: await this.prefillInLoop(input) };
    const out = await this.session.run(this.feeds(input));
    this.appendRows(out);
    return this.last ? { logits: out[LOGITS]!.data as Float32Array } : { hidden: out[hiddenStates(this.plan.layers[1])]!.data as Float32Array };
  }

  /** A prompt chunk as one step of the decode loop, whose (greedy) token is not used: the last position's logits. */
  private async prefillInLoop(input: StageInput): Promise<Float32Array> {
    if (!('ids' in input) || input.keep !== 1) throw new Error('the decode loop runs token ids and returns the last position\'s logits only');
    const ids = input.ids;
    const out = await this.session.run(this.withCache(loopFeeds({ start: input.start, ids, steps: 1, recent: [], draws: new Float64Array(1), stopIds: [], sampling: GREEDY }, this.spec.config.vocab_size)));
    this.appendRows(out);
    return out[LOGITS]!.data as Float32Array;
  }

  async decode(input: DecodeInput): Promise<number[]> {
    if (!this.loop) throw new Error(`stage ${this.plan.file} was loaded without the decode loop`);
    this.checkStart(input.start);
    const out = await this.session.run(this.withCache(loopFeeds(input, this.spec.config.vocab_size)));
    this.appendRows(out);
    return Array.from(out[TOKENS]!.data as BigInt64Array, Number);
  }

  truncate(length: number): void {
    this.cache.truncate(length);
  }

  close(): Promise<void> {
    if (this.profiling) this.session.endProfiling();
    return this.session.release();
  }
}
