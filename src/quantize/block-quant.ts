import { roundToF16, roundToF16Precision } from '../util/float16.js';

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
  /** Default float32, holding an fp16's precision. Codes are computed against the rounded scale the kernel will use. */
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

/** Symmetric start: the signed value of largest magnitude maps to the most negative code, as MLAS's quantizer does. */
function symmetricParams(w: Float32Array, from: number, to: number, bits: number): BlockParams {
  let max = 0;
  let min = 0;
  for (let i = from; i < to; i++) {
    const v = w[i]!;
    if (v > max) max = v;
    else if (v < min) min = v;
  }
  const extreme = -min > max ? min : max;
  return { scale: extreme / -(1 << (bits - 1)), zeroPoint: 1 << (bits - 1) };
}

/** Asymmetric start: the range [min(0, min), max(0, max)] spread over every code, zero exactly representable. */
function asymmetricParams(w: Float32Array, from: number, to: number, bits: number): BlockParams {
  let lo = 0;
  let hi = 0;
  for (let i = from; i < to; i++) {
    lo = Math.min(lo, w[i]!);
    hi = Math.max(hi, w[i]!);
  }
  const levels = (1 << bits) - 1;
  const scale = (hi - lo) / levels;
  if (scale === 0) return { scale: 0, zeroPoint: 0 };
  return { scale, zeroPoint: Math.min(levels, Math.max(0, Math.round(-lo / scale))) };
}

/** Sums over a block's codes under one scale and zero point: they give the least-squares scale for those codes, and the block's error. */
interface BlockFit {
  /** Σ w·(code − zeroPoint) */
  wc: number;
  /** Σ (code − zeroPoint)² */
  cc: number;
}

/** The nearest code of `v` under `inv` = 1 / scale: (v · inv + zeroPoint + 0.5) truncated is Math.round(v · inv) + zeroPoint where positive. */
function codeOf(v: number, inv: number, offset: number, max: number): number {
  const q = (v * inv + offset) | 0;
  return q < 0 ? 0 : q > max ? max : q;
}

/** The sums of w[from, to) rounded to codes under `inv` = 1 / scale. */
function fitBlock(w: Float32Array, from: number, to: number, inv: number, zeroPoint: number, bits: number): BlockFit {
  const max = (1 << bits) - 1;
  const offset = zeroPoint + 0.5;
  let wc = 0;
  let cc = 0;
  for (let i = from; i < to; i++) {
    const v = w[i]!;
    const c = codeOf(v, inv, offset, max) - zeroPoint;
    wc += v * c;
    cc += c * c;
  }
  return { wc, cc };
}

/** Writes the codes of w[from, to) at `at` (padding past `to` gets the zero point, which decodes to 0) and returns their sums. */
function encodeCodes(w: Float32Array, from: number, to: number, inv: number, zeroPoint: number, s: QuantScheme, codes: Uint8Array, at: number): BlockFit {
  const max = (1 << s.bits) - 1;
  const offset = zeroPoint + 0.5;
  const perByte = s.bits === 8 ? 1 : 2;
  let wc = 0;
  let cc = 0;
  for (let j = 0; j < s.blockSize; j += perByte) {
    let byte = 0;
    for (let half = 0; half < perByte; half++) {
      let q = zeroPoint;
      if (from + j + half < to) {
        const v = w[from + j + half]!;
        q = codeOf(v, inv, offset, max);
        wc += v * (q - zeroPoint);
        cc += (q - zeroPoint) * (q - zeroPoint);
      }
      byte |= q << (half * 4);
    }
    codes[at + j / perByte] = byte;
  }
  return { wc, cc };
}

/** The scale that minimizes Σ (w − (code − zeroPoint) · scale)² for fixed codes; `previous` when no code moves off the zero point. */
const leastSquaresScale = (fit: BlockFit, previous: number): number => (fit.cc > 0 && fit.wc !== 0 ? fit.wc / fit.cc : previous);

/** Σ (w − (code − zeroPoint) · scale)² less the constant Σ w²: enough to compare two scales of one block. */
const errorBeyondNorm = (fit: BlockFit, scale: number): number => scale * scale * fit.cc - 2 * scale * fit.wc;

/** Least-squares steps after the min/max scale: the second still takes off a few tenths of a percent, a third hardly anything. */
const REFINEMENTS = 2;

/**
 * Encodes one block and returns the scale stored with its codes. The min/max scale is only a start: the least-squares
 * scale for its codes is never worse, and rounding again to the nearest codes under that scale is never worse than
 * keeping the codes. The result is rounded once, at the end, so that fp16 and fp32 scales differ by that rounding
 * alone; where the rounding costs more than the refinement gained (a few int8 blocks), the min/max scale stays.
 * This takes 3–16 % off int4's weight error (bench/block-error.ts) for two more passes over the block.
 */
function encodeBlock(
  w: Float32Array, from: number, to: number, p: BlockParams, s: QuantScheme, round: (v: number) => number, codes: Uint8Array, at: number,
): number {
  const start = round(p.scale);
  if (start === 0) {
    encodeCodes(w, from, to, 0, p.zeroPoint, s, codes, at);
    return 0;
  }
  const first = fitBlock(w, from, to, 1 / start, p.zeroPoint, s.bits);
  let scale = leastSquaresScale(first, start);
  for (let i = 1; i < REFINEMENTS; i++) scale = leastSquaresScale(fitBlock(w, from, to, 1 / scale, p.zeroPoint, s.bits), scale);
  scale = round(scale);
  const final = encodeCodes(w, from, to, 1 / scale, p.zeroPoint, s, codes, at);
  if (errorBeyondNorm(final, scale) <= errorBeyondNorm(first, start)) return scale;
  encodeCodes(w, from, to, 1 / start, p.zeroPoint, s, codes, at);
  return start;
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
  // fp32 scales keep an fp16's precision, so that an export's weights are the same numbers on every EP.
  const round = s.scaleType === 'float16' ? roundToF16 : roundToF16Precision;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const from = r * cols + b * s.blockSize;
      const to = r * cols + Math.min(cols, (b + 1) * s.blockSize);
      const p = s.asymmetric ? asymmetricParams(w, from, to, s.bits) : symmetricParams(w, from, to, s.bits);
      scales[r * nb + b] = encodeBlock(w, from, to, p, s, round, codes, (r * nb + b) * blob);
      if (zeroPoints !== undefined) storeZeroPoint(zeroPoints, r * zpRow, b, p.zeroPoint, s.bits);
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
