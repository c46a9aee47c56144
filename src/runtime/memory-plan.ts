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

/**
 * A prompt chunk's intermediates in CPU graphs: the formula's scores [heads, chunk, capacity] twice and the MLP's three
 * [chunk, intermediate] buffers are what one layer's attention and MLP hold at once; onnxruntime holds several more of
 * the score-sized tensors at a time (scaled, soft-capped in three ops, masked, softmax, split), and each stage's arena
 * keeps its own high-water mark, rounded up to a power of two. Measured: a 512-token chunk took 5.3× the formula at 27B
 * (1.76 GB) and 5.8× at 2B over a 6656-row cache (1.7 GB) (docs/benchmarks.md, "Where a big model's memory goes").
 */
const ACTIVATION_FACTOR = 6;

function activationBytes(input: PlanInput, chunk: number, capacity: number): number {
  if (input.ep === 'cuda') return 0;
  const { num_attention_heads: heads, intermediate_size: inner, hidden_size: hidden } = input.config;
  return ACTIVATION_FACTOR * (2 * heads * chunk * capacity + chunk * (3 * inner + 4 * hidden)) * FLOAT32_BYTES;
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

/**
 * Prompt chunks a run may fall back to, largest first, when its context does not fit with the preferred chunk: a
 * chunk's intermediates grow with its length, and the sliding layers' rings by it (docs/runtime.md, "Context policy").
 */
const FALLBACK_CHUNKS = [256, 128, 64];

const chunksFrom = (preferred: number): number[] => [preferred, ...FALLBACK_CHUNKS.filter((c) => c < preferred)];

const withChunk = (input: PlanInput, prefillChunk: number): PlanInput => ({ ...input, prefillChunk });

/** The longest of `input`'s prompt chunks with which a context of `ctxSize` fits, if one does. */
const fittingChunk = (input: PlanInput, ctxSize: number, available: number): number | undefined =>
  chunksFrom(input.prefillChunk).find((chunk) => estimateMemory(withChunk(input, chunk), ctxSize).total <= available);

/** The one-line refusal of a context that cannot fit, even with the shortest prompt chunks (`estimate`'s). */
export function refusal(ctxSize: number, estimate: MemoryEstimate, available: AvailableMemory, fitting: number): string {
  const advice = fitting > 0 ? `lower --ctx-size to at most ${fitting} or free memory` : `free memory (the model does not fit even with a context of ${MIN_CONTEXT} tokens)`;
  return `a context of ${ctxSize} tokens needs ${describeEstimate(estimate)} and ${available.source} ${gb(available.bytes)} available: ${advice}`;
}

/** A context or prompt chunk lowered to what fits: what to tell the user. */
export interface ContextFit {
  /** The context asked for, or the model's when none was. */
  maxContext: number;
  asked: boolean;
  /** At `maxContext`, with `preferredChunk`. */
  estimate: MemoryEstimate;
  available: AvailableMemory;
  ctxSize: number;
  preferredChunk: number;
  prefillChunk: number;
}

export function fitNotice(fit: ContextFit): string {
  const context = fit.asked ? `a context of ${fit.maxContext} tokens` : `the model's context of ${fit.maxContext} tokens`;
  const chunks = fit.prefillChunk < fit.preferredChunk ? ` in prompt chunks of ${fit.preferredChunk}` : '';
  const using = [
    ...(fit.ctxSize < fit.maxContext ? [`--ctx-size ${fit.ctxSize}`] : []),
    ...(fit.prefillChunk < fit.preferredChunk ? [`prompt chunks of ${fit.prefillChunk} tokens`] : []),
  ].join(' and ');
  return `${context}${chunks} needs about ${gb(fit.estimate.total)} and ${fit.available.source} ${gb(fit.available.bytes)} available: using ${using}`;
}

/** The context and prompt chunk a run gets (docs/runtime.md, "Context policy"). */
export interface Fitted {
  ctxSize: number;
  prefillChunk: number;
  fit?: ContextFit;
}

/**
 * The context a run gets: the one asked for, or the model's `max` tokens, with the longest prompt chunk (at most
 * `input.prefillChunk`) that lets it fit. Where none does, an asked context is refused in one line; the model's is
 * lowered to the largest context that fits with the shortest chunk, run with the longest chunk that fits it (and said
 * so). No check when nothing tells the memory available.
 */
export function fitContext(input: PlanInput, asked: number | undefined, max: number, available: AvailableMemory | undefined): Fitted {
  const ctxSize = asked ?? max;
  const preferredChunk = input.prefillChunk;
  if (available === undefined) return { ctxSize, prefillChunk: preferredChunk };
  const fitted = (size: number, chunk: number): Fitted => ({
    ctxSize: size,
    prefillChunk: chunk,
    ...(size < ctxSize || chunk < preferredChunk
      ? { fit: { maxContext: ctxSize, asked: asked !== undefined, estimate: estimateMemory(input, ctxSize), available, ctxSize: size, preferredChunk, prefillChunk: chunk } }
      : {}),
  });
  const chunk = fittingChunk(input, ctxSize, available.bytes);
  if (chunk !== undefined) return fitted(ctxSize, chunk);
  const shortest = withChunk(input, chunksFrom(preferredChunk).at(-1)!);
  const fitting = largestFittingContext(shortest, ctxSize, available.bytes);
  if (asked !== undefined || fitting === 0) throw new GemmaError(refusal(ctxSize, estimateMemory(shortest, ctxSize), available, fitting));
  return fitted(fitting, fittingChunk(input, fitting, available.bytes)!);
}
