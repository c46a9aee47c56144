import { open, rename, rm } from 'node:fs/promises';
import type { FloatDtype } from './safetensors.js';
import { f32ToBf16, f32ToF16 } from '../util/float16.js';

export interface TensorSpec {
  name: string;
  dtype: FloatDtype;
  shape: number[];
}

const BYTES: Record<FloatDtype, number> = { F32: 4, F16: 2, BF16: 2 };

const elements = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Bytes of a tensor's data in the file. */
export const tensorByteLength = (t: TensorSpec): number => elements(t.shape) * BYTES[t.dtype];

/** Encodes fp32 values in a safetensors float dtype (little-endian). */
export function encodeFloats(values: Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint16Array(values.length);
  const convert = dtype === 'BF16' ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]!);
  return new Uint8Array(out.buffer);
}

function header(tensors: TensorSpec[], metadata: Record<string, string>): Buffer {
  const json: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = tensorByteLength(t);
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = Buffer.from(JSON.stringify(json), 'utf8');
  // The format pads the header with spaces to 8-byte alignment.
  const padded = Buffer.alloc(Math.ceil(text.length / 8) * 8, 0x20);
  text.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([prefix, padded]);
}

/**
 * Writes a safetensors file tensor by tensor: `produce` yields each tensor's data in
 * row chunks, so no tensor has to be in memory whole. Written to a temporary name and
 * renamed when complete.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorSpec[],
  produce: (t: TensorSpec) => AsyncIterable<Float32Array> | Iterable<Float32Array>,
  metadata: Record<string, string> = { format: 'pt' },
): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w');
  try {
    const head = header(tensors, metadata);
    await handle.write(head, 0, head.length, 0);
    let position = head.length;
    for (const t of tensors) {
      let written = 0;
      for await (const chunk of produce(t)) {
        const bytes = encodeFloats(chunk, t.dtype);
        await handle.write(bytes, 0, bytes.length, position);
        position += bytes.length;
        written += chunk.length;
      }
      if (written !== elements(t.shape)) throw new Error(`${t.name}: produced ${written} values for shape [${t.shape.join(', ')}]`);
    }
    await handle.close();
    await rename(tmp, path);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}
