import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirs } from '../util/make-dirs.js';
import { fillUniform } from '../util/random.js';
import type { Checkpoint } from './checkpoint.js';
import { parseConfig } from './config.js';
import { randomTensors, stdOf, tensorStream, writeMetadata, type RandomCheckpointOptions } from './random-checkpoint.js';
import { decodeFloats } from './safetensors.js';
import { encodeFloats, tensorByteLength, type TensorSpec } from './safetensors-writer.js';

/** Where a tensor's value stream stands: the next value is row `row`'s first. */
interface Cursor {
  next: () => number;
  row: number;
}

/**
 * The checkpoint `generateRandomCheckpoint(dir, options)` would write, with weights generated as they are read
 * instead of stored: only its config and tokenizer files are written into `dir`. For the benchmarks, whose
 * 27B-shaped checkpoint (54 GB) does not fit the disk beside its export; each value equals the written one
 * (rounded through `options.dtype` alike). Rows are read in order, as the converter does: going back restarts
 * the tensor's stream.
 */
export async function openRandomSource(dir: string, options: RandomCheckpointOptions): Promise<Checkpoint> {
  await makeDirs(dir);
  await writeMetadata(dir, options);
  const rawConfig = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const spec = parseConfig(rawConfig);
  const tensors = new Map(randomTensors(options).map((t) => [t.name, t]));
  const cursors = new Map<string, Cursor>();
  const get = (name: string): TensorSpec => {
    const t = tensors.get(name);
    if (t === undefined) throw new Error(`tensor ${name} is not part of the model`);
    return t;
  };
  const rows = (name: string, start: number, count: number): Float32Array => {
    const t = get(name);
    const cols = t.shape.slice(1).reduce((a, b) => a * b, 1);
    let cursor = cursors.get(name);
    if (cursor === undefined || cursor.row > start) cursor = { next: tensorStream(name, options.seed), row: 0 };
    for (let skip = (start - cursor.row) * cols; skip > 0; skip--) cursor.next();
    const values = new Float32Array(count * cols);
    fillUniform(values, cursor.next, 0, stdOf(name, options.init));
    cursors.set(name, { next: cursor.next, row: start + count });
    decodeFloats(encodeFloats(values, options.dtype), options.dtype, values);
    return values;
  };
  return {
    dir, spec, rawConfig,
    tensorCount: tensors.size,
    storedBytes: [...tensors.values()].reduce((sum, t) => sum + tensorByteLength(t), 0),
    shape: (name) => get(name).shape,
    tensorBytes: (name) => tensorByteLength(get(name)),
    rows: async (name, start, count) => rows(name, start, count),
    close: async () => undefined,
  };
}
