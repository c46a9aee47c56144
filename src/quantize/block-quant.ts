import { roundToF16 } from '../util/float16.js';

/**
 * Block-wise weight quantization in the layout of com.microsoft MatMulNBits (and
 * GatherBlockQuantized over the same bytes): each row of an HF [N, K] weight is cut
 * into blocks of `blockSize` along K; a block stores `bits`-bit unsigned codes
 * (low nibble first for 4 bits), one scale (of the activations' type) and, when
 * asymmetric, a zero point.
 * W[n, k] = (code - zeroPoint) * scale, with zeroPoint 2^(bits-1) when symmetric.
 */

/** fp32 or fp16: MatMulNBits takes scales of its activations' type, fp32 on the CPU graph and fp16 on the CUDA one. */
export type FloatType = 'float32' | 'float16';

export interface QuantScheme {
  bits: 4 | 8;
  blockSize: number;
  asymmetric: boolean;
  /** Default float32. With float16 the codes are computed against the rounded scale the kernel will use. */
  scaleType?: FloatType;
}

export interface QuantizedRows {
  rows: number;
  cols: number;
  blocksPerRow: number;
  /** [rows, blocksPerRow, blockSize * bits / 8] */
  codes: Uint8Array;
  /** [rows, blocksPerRow], each value representable in the scheme's scale type */
  scales: Float32Array;
  /** [rows, ceil(blocksPerRow * bits / 8)], packed like the codes; only when asymmetric. */
  zeroPoints?: Uint8Array;
}

export const blocksPerRow = (cols: number, blockSize: number): number => Math.ceil(cols / blockSize);
export const bytesPerBlock = (s: QuantScheme): number => (s.blockSize * s.bits) / 8;
export const zeroPointBytesPerRow = (cols: number, s: QuantScheme): number => Math.ceil((blocksPerRow(cols, s.blockSize) * s.bits) / 8);

interface BlockParams {
  scale: number;
  zeroPoint: number;
}

/** Symmetric: the signed value of largest magnitude maps to the most negative code, as MLAS does. */
function symmetricParams(w: Float32Array, from: number, to: number, bits: number, round: (v: number) => number): BlockParams {
  let max = 0;
  let min = 0;
  for (let i = from; i < to; i++) {
    const v = w[i]!;
    if (v > max) max = v;
    else if (v < min) min = v;
  }
  const extreme = -min > max ? min : max;
  return { scale: round(extreme / -(1 << (bits - 1))), zeroPoint: 1 << (bits - 1) };
}

/** Asymmetric: the range [min(0, min), max(0, max)] spread over every code, zero exactly representable. */
function asymmetricParams(w: Float32Array, from: number, to: number, bits: number, round: (v: number) => number): BlockParams {
  let lo = 0;
  let hi = 0;
  for (let i = from; i < to; i++) {
    lo = Math.min(lo, w[i]!);
    hi = Math.max(hi, w[i]!);
  }
  const levels = (1 << bits) - 1;
  const scale = round((hi - lo) / levels);
  if (scale === 0) return { scale: 0, zeroPoint: 0 };
  return { scale, zeroPoint: Math.min(levels, Math.max(0, Math.round(-lo / scale))) };
}

function encodeBlock(
  w: Float32Array, from: number, to: number, p: BlockParams, s: QuantScheme, codes: Uint8Array, at: number,
): void {
  const max = (1 << s.bits) - 1;
  const inv = p.scale === 0 ? 0 : 1 / p.scale;
  if (!s.asymmetric && to - from === s.blockSize) {
    encodeFullSymmetric(w, from, inv, p.zeroPoint, max, s, codes, at);
    return;
  }
  for (let j = 0; j < s.blockSize; j++) {
    const i = from + j;
    const q = i < to ? Math.min(max, Math.max(0, Math.round(w[i]! * inv) + p.zeroPoint)) : p.zeroPoint;
    if (s.bits === 8) codes[at + j] = q;
    else if ((j & 1) === 0) codes[at + (j >> 1)] = q;
    else codes[at + (j >> 1)]! |= q << 4;
  }
}

/**
 * The hot path of the default format. |w · inv| ≤ zeroPoint here, so w · inv + zeroPoint + 0.5
 * is positive and truncation equals Math.round(w · inv) + zeroPoint.
 */
function encodeFullSymmetric(
  w: Float32Array, from: number, inv: number, zeroPoint: number, max: number, s: QuantScheme, codes: Uint8Array, at: number,
): void {
  const offset = zeroPoint + 0.5;
  if (s.bits === 8) {
    for (let j = 0; j < s.blockSize; j++) codes[at + j] = Math.min(max, (w[from + j]! * inv + offset) | 0);
    return;
  }
  for (let j = 0; j < s.blockSize; j += 2) {
    const lo = Math.min(max, (w[from + j]! * inv + offset) | 0);
    const hi = Math.min(max, (w[from + j + 1]! * inv + offset) | 0);
    codes[at + (j >> 1)] = lo | (hi << 4);
  }
}

function storeZeroPoint(zp: Uint8Array, rowStart: number, block: number, value: number, bits: number): void {
  if (bits === 8) zp[rowStart + block] = value;
  else if ((block & 1) === 0) zp[rowStart + (block >> 1)] = value;
  else zp[rowStart + (block >> 1)]! |= value << 4;
}

/** Quantizes `rows` consecutive rows of `cols` values. Columns past `cols` in the last block are padding that decodes to 0. */
export function quantizeRows(w: Float32Array, rows: number, cols: number, s: QuantScheme): QuantizedRows {
  if (w.length !== rows * cols) throw new RangeError(`expected ${rows}x${cols} values, got ${w.length}`);
  const nb = blocksPerRow(cols, s.blockSize);
  const blob = bytesPerBlock(s);
  const zpRow = zeroPointBytesPerRow(cols, s);
  const codes = new Uint8Array(rows * nb * blob);
  const scales = new Float32Array(rows * nb);
  const zeroPoints = s.asymmetric ? new Uint8Array(rows * zpRow) : undefined;
  const round = s.scaleType === 'float16' ? roundToF16 : Math.fround;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const from = r * cols + b * s.blockSize;
      const to = r * cols + Math.min(cols, (b + 1) * s.blockSize);
      const p = s.asymmetric ? asymmetricParams(w, from, to, s.bits, round) : symmetricParams(w, from, to, s.bits, round);
      scales[r * nb + b] = p.scale;
      if (zeroPoints !== undefined) storeZeroPoint(zeroPoints, r * zpRow, b, p.zeroPoint, s.bits);
      encodeBlock(w, from, to, p, s, codes, (r * nb + b) * blob);
    }
  }
  return { rows, cols, blocksPerRow: nb, codes, scales, ...(zeroPoints !== undefined ? { zeroPoints } : {}) };
}

function code(bytes: Uint8Array, rowStart: number, index: number, bits: number): number {
  if (bits === 8) return bytes[rowStart + index]!;
  const byte = bytes[rowStart + (index >> 1)]!;
  return (index & 1) === 0 ? byte & 0x0f : byte >> 4;
}

/** The fp32 weights the quantized rows stand for (what the kernels compute with). */
export function dequantizeRows(q: QuantizedRows, s: QuantScheme): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  const blob = bytesPerBlock(s);
  const zpRow = zeroPointBytesPerRow(q.cols, s);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const b = Math.floor(c / s.blockSize);
      const zp = q.zeroPoints !== undefined ? code(q.zeroPoints, r * zpRow, b, s.bits) : 1 << (s.bits - 1);
      const value = code(q.codes, (r * q.blocksPerRow + b) * blob, c % s.blockSize, s.bits);
      out[r * q.cols + c] = Math.fround((value - zp) * q.scales[r * q.blocksPerRow + b]!);
    }
  }
  return out;
}
