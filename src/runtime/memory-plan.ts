import type { Gemma2Config } from '../checkpoint/config.js';
import type { Manifest } from '../export/manifest.js';
import type { ExecutionProvider, Precision } from '../quantize/precision.js';
import { GemmaError } from '../util/errors.js';
import { capacityFor, slidingRing } from './kv-cache.js';

const GB = 1e9;
/** The smallest useful context: a one-token prompt and room for the answer (docs/runtime.md, "Context policy"). */
const MIN_CONTEXT = 2;
const FLOAT32_BYTES = 4;
/** Keys and values live on the host on every EP: fp32 for CPU graphs, fp16 for CUDA graphs (docs/graph-contract.md). */
const KV_ELEMENT_BYTES: Record<ExecutionProvider, number> = { cpu: 4, cuda: 2 };

/**
 * What a run holds besides the model: the tokenizer, the worker threads' V8 isolates and decode buffers, `gemma serve`'s
 * prompt worker. A short run's remainder measured 0.12 GB (below); a chat's heap grows with it, and the tokenizer from
 * `tokenizer.json` (exports without tables) peaks at 0.45 GB (docs/benchmarks-history.md, "Time to first token and peak
 * RSS by export"), hence the margin.
 */
const RUNTIME_BYTES = 0.5 * GB;

/**
 * Host memory a run cannot give back, per byte of the data file: onnxruntime's prepacked copy of every MatMulNBits
 * weight, anonymous memory. Fitted to the peak RssAnon of `gemma run -p hi -n 16 -c 4096` as anon = factor × file +
 * 0.12 GB (docs/benchmarks.md, "Where a big model's memory goes"): CPU int4 block 64, 5.99 GB for the 9B shape's 5.28 GB
 * file and 1.79 GB for the 2B's 1.50 GB; int8 block 128, 2.96 GB for the 2B's 2.71 GB. The pages of the mapped file
 * that prepacking read (the scales and zero points onnxruntime keeps beside its packed copy, 0.12 of the file at block
 * 64) also count in RSS, but they are clean file pages never read again, which the kernel drops when memory runs
 * short: a 9B run limited to 1.15× its file by a cgroup completed. CUDA int4 was measured as peak RSS only (1.76 GB,
 * 1.19× the file, less RUNTIME_BYTES), its weights going to the device; fp32 was never measured: a full prepacked copy
 * beside the mapped file is assumed.
 */
const perFileByte = (anonGb: number, fileGb: number): number => (anonGb - 0.12) / fileGb;
const CUDA_HOST_FACTOR = (1.76 * GB - RUNTIME_BYTES) / ((1.76 / 1.19) * GB);
const WEIGHT_FACTOR: Record<ExecutionProvider, Record<Precision, number>> = {
  cpu: { int4: perFileByte(5.99, 5.28), int8: perFileByte(2.96, 2.71), fp32: 2 },
  cuda: { int4: CUDA_HOST_FACTOR, int8: CUDA_HOST_FACTOR, fp32: CUDA_HOST_FACTOR },
};

/** What a plan depends on: an export and how it will run. */
export interface PlanInput {
  config: Pick<Gemma2Config, 'num_hidden_layers' | 'num_attention_heads' | 'num_key_value_heads' | 'head_dim' | 'hidden_size' | 'intermediate_size' | 'vocab_size' | 'sliding_window'>;
  /** How many layers attend through a sliding window (the spec's `isSliding`). */
  slidingLayers: number;
  weights: Pick<Manifest['weights'], 'precision' | 'attention'>;
  sizes: Manifest['sizes'];
  ep: ExecutionProvider;
  prefillChunk: number;
  /** Logits of every position of a chunk (perplexity), not only the last one's. */
  allLogits: boolean;
  /** KV caches held at once, each for the whole context (gemma serve's --parallel slots); default 1. */
  caches?: number;
}

/** Estimated peak host memory of a run, in bytes, by where it goes. */
export interface MemoryEstimate {
  weights: number;
  kvCache: number;
  /** One prompt chunk's attention scores and probabilities, and its MLP's, in CPU graphs; on CUDA they are device memory. */
  activations: number;
  logits: number;
  runtime: number;
  total: number;
}

/** Bytes of one layer's keys and values per cached position. */
const layerBytesPerToken = (config: PlanInput['config'], ep: ExecutionProvider): number => 2 * config.num_key_value_heads * config.head_dim * KV_ELEMENT_BYTES[ep];

/** Bytes of keys and values per cached position, every layer's. */
export const kvBytesPerToken = (config: PlanInput['config'], ep: ExecutionProvider): number => config.num_hidden_layers * layerBytesPerToken(config, ep);

/** One cache's bytes at `capacity` rows: sliding layers stop at their ring's rows. */
function cacheBytes(input: PlanInput, capacity: number): number {
  const ring = slidingRing(input.config.sliding_window, input.weights.attention, input.prefillChunk);
  const slidingRows = ring === undefined ? capacity : Math.min(capacity, ring.rows);
  const globalLayers = input.config.num_hidden_layers - input.slidingLayers;
  return (globalLayers * capacity + input.slidingLayers * slidingRows) * layerBytesPerToken(input.config, input.ep);
}

function activationBytes(input: PlanInput, chunk: number, capacity: number): number {
  if (input.ep === 'cuda') return 0;
  const { num_attention_heads: heads, intermediate_size: inner, hidden_size: hidden } = input.config;
  // Scores and their softmax live together; gate, up and their product in the MLP; a few residual-sized buffers.
  return (2 * heads * chunk * capacity + chunk * (3 * inner + 4 * hidden)) * FLOAT32_BYTES;
}

/** The peak host memory of a run of `input` whose cache fills a context of `ctxSize` tokens. */
export function estimateMemory(input: PlanInput, ctxSize: number): MemoryEstimate {
  const capacity = capacityFor(ctxSize);
  const chunk = Math.min(input.prefillChunk, ctxSize);
  const weights = WEIGHT_FACTOR[input.ep][input.weights.precision] * input.sizes.dataBytes + input.sizes.modelBytes;
  const kvCache = (input.caches ?? 1) * cacheBytes(input, capacity);
  const activations = activationBytes(input, chunk, capacity);
  const logits = (input.allLogits ? chunk : 1) * input.config.vocab_size * FLOAT32_BYTES;
  return { weights, kvCache, activations, logits, runtime: RUNTIME_BYTES, total: weights + kvCache + activations + logits + RUNTIME_BYTES };
}

/** The largest context up to `max` tokens whose estimate fits in `available` bytes; 0 when none of MIN_CONTEXT tokens or more does. */
export function largestFittingContext(input: PlanInput, max: number, available: number): number {
  let low = 0;
  let high = max;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (estimateMemory(input, mid).total <= available) low = mid;
    else high = mid - 1;
  }
  return low < MIN_CONTEXT ? 0 : low;
}

const gb = (bytes: number): string => `${(bytes / GB).toFixed(2)} GB`;

export function describeEstimate(e: MemoryEstimate): string {
  return `about ${gb(e.total)} (weights ${gb(e.weights)}, KV cache ${gb(e.kvCache)}, prompt activations ${gb(e.activations)}, logits ${gb(e.logits)}, runtime ${gb(e.runtime)})`;
}

/** Where the available memory came from, as the messages name it. */
export interface AvailableMemory {
  bytes: number;
  source: string;
}

/** The one-line refusal of a context that cannot fit. */
export function refusal(ctxSize: number, estimate: MemoryEstimate, available: AvailableMemory, fitting: number): string {
  const advice = fitting > 0 ? `lower --ctx-size to at most ${fitting} or free memory` : `free memory (the model does not fit even with a context of ${MIN_CONTEXT} tokens)`;
  return `a context of ${ctxSize} tokens needs ${describeEstimate(estimate)} and ${available.source} ${gb(available.bytes)} available: ${advice}`;
}

/** A default context lowered to what fits: what to tell the user. */
export interface ContextFit {
  maxContext: number;
  estimate: MemoryEstimate;
  available: AvailableMemory;
  ctxSize: number;
}

export const fitNotice = (fit: ContextFit): string =>
  `the model's context of ${fit.maxContext} tokens needs about ${gb(fit.estimate.total)} and ${fit.available.source} ${gb(fit.available.bytes)} available: using --ctx-size ${fit.ctxSize}`;

/**
 * The context a run gets: the one asked for, refused in one line when its estimate exceeds the memory available;
 * without one, the model's `max` tokens, lowered to the largest context that fits (and said so). No check when
 * nothing tells the memory available.
 */
export function fitContext(input: PlanInput, asked: number | undefined, max: number, available: AvailableMemory | undefined): { ctxSize: number; fit?: ContextFit } {
  const ctxSize = asked ?? max;
  if (available === undefined) return { ctxSize };
  const estimate = estimateMemory(input, ctxSize);
  if (estimate.total <= available.bytes) return { ctxSize };
  const fitting = largestFittingContext(input, ctxSize, available.bytes);
  if (asked !== undefined || fitting === 0) throw new GemmaError(refusal(ctxSize, estimate, available, fitting));
  return { ctxSize: fitting, fit: { maxContext: max, estimate, available, ctxSize: fitting } };
}
