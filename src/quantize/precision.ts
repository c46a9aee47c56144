import type { QuantScheme, FloatType } from './block-quant.js';

export const PRECISIONS = ['int4', 'int8', 'fp32'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The onnxruntime execution provider an export is built for. */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/**
 * How a layer attends: `ops` writes attention as ONNX ops (scores, soft-cap, masks, softmax over
 * the cache as fed), `gqa` as onnxruntime's fused GroupQueryAttention kernel (rotary, soft-cap,
 * window and causality inside it; docs/graph-contract.md, "Attention kernels").
 */
export const ATTENTION_KERNELS = ['ops', 'gqa'] as const;
export type AttentionKernel = (typeof ATTENTION_KERNELS)[number];

/** How the converter stores weights: the part of the CLI options that shapes the graph. */
export interface WeightFormat {
  precision: Precision;
  blockSize: number;
  asymmetric: boolean;
  /** MatMulNBits accuracy_level: 4 lets the CPU kernel quantize activations to int8 per block. */
  accuracyLevel: number;
  /** Keep the tied embedding / lm_head in fp32 instead of quantizing it with the layers. */
  keepEmbeddings: boolean;
  ep: ExecutionProvider;
  attention: AttentionKernel;
}

/**
 * The CPU kernels are fastest with int8 activations (level 4); CUDA computes in fp16 and
 * ignores the level, so 0 records what it does.
 */
export const defaultAccuracyLevel = (ep: ExecutionProvider): number => (ep === 'cuda' ? 0 : 4);

/**
 * What `gemma quantize` picks when not told, on both EPs: on the CPU `ops` measured faster past depth 0; the CUDA
 * `gqa` graph has not run on a GPU yet (docs/benchmarks.md, "Attention kernels on the CPU"; docs/cuda.md).
 */
export const DEFAULT_ATTENTION: AttentionKernel = 'ops';

/** Whether each block stores a zero point (asymmetric) or implies the middle code (symmetric). */
export const SCHEMES = ['asymmetric', 'symmetric'] as const;
export type Scheme = (typeof SCHEMES)[number];

export interface BlockLayout {
  blockSize: number;
  asymmetric: boolean;
}

/**
 * What `gemma quantize` picks when not told, from measured error and speed (docs/quantization.md, "The default
 * format"). CPU int4: block 64 with a zero point per block has the weight error of llama.cpp Q4_0's block 32
 * (within 1–4 % on bell-shaped weights) and the CPU kernel streams 5.0 bits per weight instead of 6.0. int8's error
 * barely grows from block 32 to 128, so it takes the fewer bytes. CUDA keeps the format checked on a device.
 */
export function defaultLayout(precision: Precision, ep: ExecutionProvider): BlockLayout {
  if (precision === 'int4' && ep === 'cpu') return { blockSize: 64, asymmetric: true };
  if (precision === 'int8') return { blockSize: 128, asymmetric: false };
  return { blockSize: 32, asymmetric: false };
}

/**
 * The type of activations inside linear layers and attention, of the KV cache and of the
 * quantization scales. The residual stream, norms and logits stay fp32 on every EP: Gemma 2's
 * residual stream overflows fp16.
 */
export const computeType = (format: WeightFormat): FloatType => (format.ep === 'cuda' ? 'float16' : 'float32');

export function quantScheme(format: WeightFormat): QuantScheme | undefined {
  if (format.precision === 'fp32') return undefined;
  return { bits: format.precision === 'int4' ? 4 : 8, blockSize: format.blockSize, asymmetric: format.asymmetric, scaleType: computeType(format) };
}

/** A short name for an export variant, used for default output folders: int4-b64-asym, int8-b128, int4-b32-cuda, fp32. */
export function variantName(format: WeightFormat): string {
  const parts: string[] = [format.precision];
  if (format.precision !== 'fp32') {
    parts.push(`b${format.blockSize}`);
    if (format.asymmetric) parts.push('asym');
    if (format.keepEmbeddings) parts.push('fp32emb');
    if (format.accuracyLevel !== defaultAccuracyLevel(format.ep)) parts.push(`acc${format.accuracyLevel}`);
  }
  if (format.attention !== DEFAULT_ATTENTION) parts.push(format.attention);
  if (format.ep !== 'cpu') parts.push(format.ep);
  return parts.join('-');
}
