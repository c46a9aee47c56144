import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { describeFsError, GemmaError } from '../util/errors.js';
import { bf16ToF32, f16ToF32 } from '../util/float16.js';
import { openRegularFile } from '../util/regular-file.js';

/** safetensors' own parser refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;
export type FloatDtype = 'F32' | 'F16' | 'BF16';

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the tensor's first byte in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  path: string;
  handle: FileHandle;
  tensors: Map<string, TensorEntry>;
}

function corrupt(path: string, why: string): GemmaError {
  return new GemmaError(`${basename(path)}: not a valid safetensors file (${why})`);
}

function parseEntry(path: string, name: string, value: unknown, dataBytes: number, headerEnd: number): TensorEntry {
  if (typeof value !== 'object' || value === null) throw corrupt(path, `entry '${name}' is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw corrupt(path, `tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
  }
  const isDim = (d: unknown): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
  if (!Array.isArray(shape) || !shape.every(isDim)) throw corrupt(path, `tensor '${name}' has an invalid shape`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDim)) {
    throw corrupt(path, `tensor '${name}' has invalid data_offsets`);
  }
  const [begin, end] = offsets as [number, number];
  const elements = shape.reduce((a: number, b: number) => a * b, 1);
  const expected = elements * DTYPE_BYTES[dtype as SafetensorsDtype];
  if (!Number.isSafeInteger(expected)) throw corrupt(path, `tensor '${name}' is too large`);
  if (end < begin || end - begin !== expected) {
    throw corrupt(path, `tensor '${name}' has shape [${shape.join(', ')}] ${dtype} (${expected} bytes) but data_offsets span ${end - begin} bytes`);
  }
  if (end > dataBytes) {
    throw corrupt(path, `truncated: tensor '${name}' ends at byte ${headerEnd + end} but the file has ${headerEnd + dataBytes}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape, offset: headerEnd + begin, byteLength: expected };
}

function checkNoOverlap(path: string, entries: TensorEntry[]): void {
  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const sorted = entries.filter((e) => e.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw corrupt(path, `tensors '${prev.name}' and '${cur.name}' overlap`);
    }
  }
}

async function readHeader(path: string, handle: FileHandle, fileBytes: number): Promise<{ json: unknown; headerEnd: number }> {
  if (fileBytes < 8) throw corrupt(path, `truncated: ${fileBytes} bytes`);
  const prefix = Buffer.alloc(8);
  await handle.read(prefix, 0, 8, 0);
  const headerBytes = prefix.readBigUInt64LE(0);
  if (headerBytes > BigInt(MAX_HEADER_BYTES)) throw corrupt(path, `header length ${headerBytes} exceeds ${MAX_HEADER_BYTES}`);
  const length = Number(headerBytes);
  if (8 + length > fileBytes) throw corrupt(path, `truncated: header claims ${length} bytes, file has ${fileBytes}`);
  const header = Buffer.alloc(length);
  await handle.read(header, 0, length, 8);
  try {
    return { json: JSON.parse(header.toString('utf8')), headerEnd: 8 + length };
  } catch {
    throw corrupt(path, 'header is not valid JSON');
  }
}

/** Opens a safetensors file and validates its (untrusted) header against the file's size. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let handle: FileHandle;
  try {
    handle = await openRegularFile(path);
  } catch (err) {
    const described = describeFsError(err, `cannot open ${path}`);
    throw described instanceof GemmaError ? described : new GemmaError(`cannot open ${path}`);
  }
  try {
    const { size } = await handle.stat();
    const { json, headerEnd } = await readHeader(path, handle, size);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw corrupt(path, 'header is not a JSON object');
    const entries = Object.entries(json)
      .filter(([name]) => name !== '__metadata__')
      .map(([name, value]) => parseEntry(path, name, value, size - headerEnd, headerEnd));
    checkNoOverlap(path, entries);
    return { path, handle, tensors: new Map(entries.map((e) => [e.name, e])) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Number of elements in one row (the product of every dimension but the first). */
export function rowLength(entry: TensorEntry): number {
  return entry.shape.slice(1).reduce((a, b) => a * b, 1);
}

/** The fp32 values of floats stored as `dtype` (little-endian, aligned). */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDtype, out: Float32Array): void {
  if (dtype === 'F32') {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, out.length));
    return;
  }
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, out.length);
  if (dtype === 'BF16') bf16ToF32(halves, out);
  else f16ToF32(halves, out);
}

/**
 * Reads rows [start, start + count) of a floating-point tensor as fp32. A 1-D tensor
 * has one row per element.
 */
export async function readRows(file: SafetensorsFile, entry: TensorEntry, start: number, count: number): Promise<Float32Array> {
  if (entry.dtype !== 'F32' && entry.dtype !== 'F16' && entry.dtype !== 'BF16') {
    throw new GemmaError(`${basename(file.path)}: tensor '${entry.name}' is ${entry.dtype}; only F32, F16 and BF16 weights are supported`);
  }
  const rows = entry.shape.length === 0 ? 1 : entry.shape[0]!;
  const perRow = entry.shape.length <= 1 ? 1 : rowLength(entry);
  if (start < 0 || count < 0 || start + count > rows) throw new RangeError(`rows ${start}..${start + count} of ${rows}`);
  const elemBytes = DTYPE_BYTES[entry.dtype];
  const length = count * perRow;
  // Aligned scratch so the typed-array views below are always legal.
  const bytes = Buffer.from(new ArrayBuffer(length * elemBytes));
  const position = entry.offset + start * perRow * elemBytes;
  const { bytesRead } = await file.handle.read(bytes, 0, bytes.length, position);
  if (bytesRead !== bytes.length) throw corrupt(file.path, `truncated while reading '${entry.name}'`);
  const out = new Float32Array(length);
  decodeFloats(bytes, entry.dtype, out);
  return out;
}
