/**
 * ggml block encoders (F32, Q8_0, Q4_0, Q6_K) written from the block layouts and the reference quantizers in
 * ggml-org/llama.cpp `ggml/src/ggml-quants.c` (quantize_row_*_ref), so that a GGUF written here holds the same codes
 * `llama-quantize` would produce from the same fp32 weights (up to fp32 rounding order in Q6_K's scale search).
 */
import { f32ToF16 } from '../src/util/float16.js';

/** ggml_type ids as stored in GGUF tensor infos. */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q6_K: 14 } as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];

/** Elements per block and bytes per block of each type. */
const LAYOUT: Record<GgmlTypeId, { block: number; bytes: number }> = {
  [GgmlType.F32]: { block: 1, bytes: 4 },
  [GgmlType.F16]: { block: 1, bytes: 2 },
  [GgmlType.Q4_0]: { block: 32, bytes: 2 + 16 },
  [GgmlType.Q8_0]: { block: 32, bytes: 2 + 32 },
  [GgmlType.Q6_K]: { block: 256, bytes: 128 + 64 + 16 + 2 },
};

export const typeName = (t: GgmlTypeId): string => Object.entries(GgmlType).find(([, v]) => v === t)?.[0] ?? `type${t}`;

/** Bytes one row of `cols` elements occupies; rows never share a block because ggml quantizes row by row. */
export function rowBytes(type: GgmlTypeId, cols: number): number {
  const { block, bytes } = LAYOUT[type];
  if (cols % block !== 0) throw new Error(`${typeName(type)} needs rows divisible by ${block}, got ${cols}`);
  return (cols / block) * bytes;
}

const fr = Math.fround;

/** ggml's nearest_int: round half to even on an fp32 value (it adds 1.5·2^23 in fp32). */
function nearestInt(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** C roundf: halves away from zero (Q8_0 uses roundf, not nearest_int). */
const roundf = (v: number): number => Math.sign(v) * Math.round(Math.abs(v));

function encodeQ8_0(src: Float32Array, off: number, out: DataView, pos: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[off + j]!));
  const d = fr(amax / 127);
  const id = d !== 0 ? fr(1 / d) : 0;
  out.setUint16(pos, f32ToF16(d), true);
  for (let j = 0; j < 32; j++) out.setInt8(pos + 2 + j, roundf(fr(src[off + j]! * id)));
}

function encodeQ4_0(src: Float32Array, off: number, out: DataView, pos: number): void {
  // The scale keeps the sign of the largest-magnitude weight so that weight maps to code 0 (-8) exactly.
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = src[off + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = fr(max / -8);
  const id = d !== 0 ? fr(1 / d) : 0;
  out.setUint16(pos, f32ToF16(d), true);
  for (let j = 0; j < 16; j++) {
    // (int8_t)(x + 8.5f) truncates toward zero; x·id >= -8 so the sum is positive and truncation is floor.
    const lo = Math.min(15, Math.trunc(fr(fr(src[off + j]! * id) + 8.5)));
    const hi = Math.min(15, Math.trunc(fr(fr(src[off + j + 16]! * id) + 8.5)));
    out.setUint8(pos + 2 + j, lo | (hi << 4));
  }
}

/** make_qx_quants(n = 16, nmax = 32, rmse_type = 1, no weights): a scale search over 19 candidate inverse scales. */
function makeQxQuants(x: Float32Array, off: number, L: Int8Array, loff: number): number {
  const n = 16;
  const nmax = 32;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[off + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[off + i]!;
    }
  }
  if (amax < 1e-15) {
    L.fill(0, loff, loff + n);
    return 0;
  }
  const trial = (iscale: number, store: boolean): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[off + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      if (store) L[loff + i] = l + nmax;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = trial(fr(-nmax / max), true);
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = fr(-fr(nmax + fr(0.1 * is)) / max);
    [sumlx, suml2] = trial(iscale, false);
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      trial(iscale, true);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

const halfToFloat = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
};

/** Q6_K block of 256: ql[128] low nibbles, qh[64] high 2 bits, int8 scales[16] per 16 weights, fp16 d. */
function encodeQ6_K(src: Float32Array, off: number, out: DataView, pos: number): void {
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const s = makeQxQuants(src, off + 16 * ib, L, 16 * ib);
    scales[ib] = s;
    if (Math.abs(s) > maxAbsScale) {
      maxAbsScale = Math.abs(s);
      maxScale = s;
    }
  }
  for (let b = 0; b < 210; b++) out.setUint8(pos + b, 0);
  if (maxAbsScale < 1e-15) return;
  const iscale = fr(-128 / maxScale);
  const dBits = f32ToF16(fr(1 / iscale));
  out.setUint16(pos + 208, dBits, true);
  const dHalf = halfToFloat(dBits);
  for (let ib = 0; ib < 16; ib++) {
    const sc = Math.min(127, nearestInt(fr(iscale * scales[ib]!)));
    out.setInt8(pos + 192 + ib, sc);
    const d = fr(dHalf * sc);
    if (d === 0) continue;
    for (let i = 0; i < 16; i++) {
      L[16 * ib + i] = Math.max(-32, Math.min(31, nearestInt(fr(src[off + 16 * ib + i]! / d)))) + 32;
    }
  }
  for (let half = 0; half < 2; half++) {
    const j = half * 128;
    const ql = pos + half * 64;
    const qh = pos + 128 + half * 32;
    for (let l = 0; l < 32; l++) {
      const q = [L[j + l]!, L[j + l + 32]!, L[j + l + 64]!, L[j + l + 96]!];
      out.setUint8(ql + l, (q[0]! & 0xf) | ((q[2]! & 0xf) << 4));
      out.setUint8(ql + l + 32, (q[1]! & 0xf) | ((q[3]! & 0xf) << 4));
      out.setUint8(qh + l, (q[0]! >> 4) | ((q[1]! >> 4) << 2) | ((q[2]! >> 4) << 4) | ((q[3]! >> 4) << 6));
    }
  }
}

/** Encodes `rows` rows of `cols` fp32 values (row-major) into ggml's on-disk layout for `type`. */
export function encodeRows(type: GgmlTypeId, src: Float32Array, cols: number): Uint8Array {
  const rows = src.length / cols;
  const out = new Uint8Array(rows * rowBytes(type, cols));
  const view = new DataView(out.buffer);
  if (type === GgmlType.F32) {
    new Float32Array(out.buffer).set(src);
    return out;
  }
  if (type === GgmlType.F16) {
    for (let i = 0; i < src.length; i++) view.setUint16(2 * i, f32ToF16(src[i]!), true);
    return out;
  }
  const { block, bytes } = LAYOUT[type];
  const encode = type === GgmlType.Q4_0 ? encodeQ4_0 : type === GgmlType.Q8_0 ? encodeQ8_0 : encodeQ6_K;
  for (let b = 0, n = src.length / block; b < n; b++) encode(src, b * block, view, b * bytes);
  return out;
}

/** Inverse of encodeRows for the quantized types, used by the round-trip check only. */
export function decodeRows(type: GgmlTypeId, data: Uint8Array, count: number): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float32Array(count);
  const { block, bytes } = LAYOUT[type];
  for (let b = 0; b < count / block; b++) {
    const p = b * bytes;
    const o = b * block;
    if (type === GgmlType.Q8_0) {
      const d = halfToFloat(view.getUint16(p, true));
      for (let j = 0; j < 32; j++) out[o + j] = d * view.getInt8(p + 2 + j);
    } else if (type === GgmlType.Q4_0) {
      const d = halfToFloat(view.getUint16(p, true));
      for (let j = 0; j < 16; j++) {
        const q = view.getUint8(p + 2 + j);
        out[o + j] = d * ((q & 0xf) - 8);
        out[o + j + 16] = d * ((q >> 4) - 8);
      }
    } else if (type === GgmlType.Q6_K) {
      const d = halfToFloat(view.getUint16(p + 208, true));
      for (let half = 0; half < 2; half++) {
        for (let l = 0; l < 32; l++) {
          const h = view.getUint8(p + 128 + half * 32 + l);
          const a = view.getUint8(p + half * 64 + l);
          const c = view.getUint8(p + half * 64 + l + 32);
          const qs = [(a & 0xf) | ((h & 3) << 4), (c & 0xf) | (((h >> 2) & 3) << 4), (a >> 4) | (((h >> 4) & 3) << 4), (c >> 4) | (((h >> 6) & 3) << 4)];
          for (let k = 0; k < 4; k++) {
            const idx = half * 128 + l + 32 * k;
            out[o + idx] = d * view.getInt8(p + 192 + Math.floor(idx / 16)) * (qs[k]! - 32);
          }
        }
      }
    } else throw new Error(`decodeRows: ${typeName(type)} not supported`);
  }
  return out;
}
