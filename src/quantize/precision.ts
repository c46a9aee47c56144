import type { QuantScheme } from './block-quant.js';

export const PRECISIONS = ['int4', 'int8', 'fp32'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** How the converter stores weights: the part of the CLI options that shapes the graph. */
export interface WeightFormat {
  precision: Precision;
  blockSize: number;
  asymmetric: boolean;
  /** MatMulNBits accuracy_level: 4 lets the CPU kernel quantize activations to int8 per block. */
  accuracyLevel: number;
  /** Keep the tied embedding / lm_head in fp32 instead of quantizing it with the layers. */
  keepEmbeddings: boolean;
}

export function quantScheme(format: WeightFormat): QuantScheme | undefined {
  if (format.precision === 'fp32') return undefined;
  return { bits: format.precision === 'int4' ? 4 : 8, blockSize: format.blockSize, asymmetric: format.asymmetric };
}

/** A short name for an export variant, used for default output folders: int4-b32, int8-b64-asym, fp32. */
export function variantName(format: WeightFormat): string {
  if (format.precision === 'fp32') return 'fp32';
  const parts = [format.precision, `b${format.blockSize}`];
  if (format.asymmetric) parts.push('asym');
  if (format.keepEmbeddings) parts.push('fp32emb');
  if (format.accuracyLevel !== 4) parts.push(`acc${format.accuracyLevel}`);
  return parts.join('-');
}
