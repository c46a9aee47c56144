/**
 * A minimal GGUF v3 writer (format: ggml-org/ggml docs/gguf.md, gguf-py/gguf/constants.py): header, typed metadata,
 * tensor infos and 32-byte-aligned tensor data. Tensor data is produced one tensor at a time by a callback and
 * streamed to disk, so a multi-GB model never has to sit in memory whole.
 */
import { open, rename } from 'node:fs/promises';
import { rowBytes, type GgmlTypeId } from './ggml-quants.js';

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;
export const ALIGNMENT = 32; // general.alignment default; we do not write the key

/** GGUF metadata value type ids. */
const VT = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;

export type MetaValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: ArrayLike<number> }
  | { type: 'i32[]'; value: ArrayLike<number> };

export interface TensorPlan {
  name: string;
  /** Row-major shape as PyTorch/Hugging Face write it (outermost first); GGUF stores it reversed. */
  shape: number[];
  type: GgmlTypeId;
}

/** Grows a byte buffer; the header (with a 256000-entry vocabulary) is a few MB, so it is built in memory. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  u64(v: number): void { this.reserve(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  pad(align: number): void { while (this.length % align !== 0) this.u8(0); }
  take(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function writeValue(sink: ByteSink, v: MetaValue): void {
  const array = (elem: number, n: number, each: (i: number) => void): void => {
    sink.u32(VT.ARRAY);
    sink.u32(elem);
    sink.u64(n);
    for (let i = 0; i < n; i++) each(i);
  };
  switch (v.type) {
    case 'u32': sink.u32(VT.U32); sink.u32(v.value); return;
    case 'i32': sink.u32(VT.I32); sink.i32(v.value); return;
    case 'f32': sink.u32(VT.F32); sink.f32(v.value); return;
    case 'bool': sink.u32(VT.BOOL); sink.u8(v.value ? 1 : 0); return;
    case 'string': sink.u32(VT.STRING); sink.str(v.value); return;
    case 'string[]': array(VT.STRING, v.value.length, (i) => sink.str(v.value[i]!)); return;
    case 'f32[]': array(VT.F32, v.value.length, (i) => sink.f32(v.value[i]!)); return;
    case 'i32[]': array(VT.I32, v.value.length, (i) => sink.i32(v.value[i]!)); return;
  }
}

/** Bytes a tensor's data occupies (without alignment padding). */
export function tensorBytes(t: TensorPlan): number {
  const cols = t.shape[t.shape.length - 1]!;
  const rows = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return rows * rowBytes(t.type, cols);
}

const alignUp = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** Header + metadata + tensor infos, padded so the data section starts aligned. */
export function buildHeader(metadata: ReadonlyArray<[string, MetaValue]>, tensors: readonly TensorPlan[]): Uint8Array {
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(GGUF_VERSION);
  sink.u64(tensors.length);
  sink.u64(metadata.length);
  for (const [key, value] of metadata) {
    sink.str(key);
    writeValue(sink, value);
  }
  let offset = 0;
  for (const t of tensors) {
    sink.str(t.name);
    sink.u32(t.shape.length);
    // ggml's ne[0] is the innermost (contiguous) dimension, the reverse of PyTorch order.
    for (const d of [...t.shape].reverse()) sink.u64(d);
    sink.u32(t.type);
    sink.u64(offset);
    offset += alignUp(tensorBytes(t));
  }
  sink.pad(ALIGNMENT);
  return sink.take();
}

/**
 * Writes a GGUF file to `path` (via a temporary name, renamed when complete). `produce` yields each tensor's
 * encoded bytes in pieces, in `tensors` order; the total must match the tensor's planned size.
 */
export async function writeGguf(
  path: string,
  metadata: ReadonlyArray<[string, MetaValue]>,
  tensors: readonly TensorPlan[],
  produce: (t: TensorPlan, index: number) => AsyncIterable<Uint8Array>,
): Promise<number> {
  const tmp = `${path}.tmp-${process.pid}`;
  const file = await open(tmp, 'w');
  let written = 0;
  try {
    const header = buildHeader(metadata, tensors);
    await file.write(header);
    written = header.length;
    for (const [i, t] of tensors.entries()) {
      let bytes = 0;
      for await (const piece of produce(t, i)) {
        await file.write(piece);
        bytes += piece.length;
      }
      if (bytes !== tensorBytes(t)) throw new Error(`${t.name}: produced ${bytes} bytes, planned ${tensorBytes(t)}`);
      const padding = alignUp(bytes) - bytes;
      if (padding > 0) await file.write(new Uint8Array(padding));
      written += bytes + padding;
    }
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  return written;
}
