import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_HEADER_BYTES, openSafetensors, readRows, rowLength, type SafetensorsFile, type TensorEntry } from '../../../src/checkpoint/safetensors.js';
import { encodeFloats, writeSafetensors } from '../../../src/checkpoint/safetensors-writer.js';
import { GemmaError } from '../../../src/util/errors.js';
import { tempDir } from '../../helpers/models.js';

let dir = '';
before(async () => {
  dir = await tempDir('safetensors');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 8-byte little-endian header length, the header bytes, then the data. */
function rawFile(header: string | Buffer, data: Buffer = Buffer.alloc(0), claimedLength?: bigint): Buffer {
  const head = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(claimedLength ?? BigInt(head.length));
  return Buffer.concat([prefix, head, data]);
}

const fileFor = (header: unknown, data: Buffer = Buffer.alloc(0)): Buffer => rawFile(JSON.stringify(header), data);

let counter = 0;
async function put(bytes: Buffer): Promise<string> {
  const path = join(dir, `f${counter++}.safetensors`);
  await writeFile(path, bytes);
  return path;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Opening `path` must fail with a one-line GemmaError matching `pattern`, leaving no file handle open. */
async function rejectsFile(path: string, pattern: RegExp): Promise<void> {
  const before = openFds();
  for (let i = 0; i < 20; i++) {
    await assert.rejects(openSafetensors(path), (err: unknown) => {
      assert.ok(err instanceof GemmaError, `expected GemmaError, got ${String(err)}`);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, pattern);
      return true;
    });
  }
  assert.equal(openFds(), before, 'a file handle was left open');
}

const f32Bytes = (values: number[]): Buffer => Buffer.from(Float32Array.from(values).buffer);

// A valid file: F32 [3, 4], F16 [2, 3], BF16 [4], F32 scalar, and an I32 [2].
const F32_VALUES = Array.from({ length: 12 }, (_, i) => i * 0.5 - 2.25);
const F16_BITS = [0x3c00, 0xc000, 0x3800, 0x0001, 0x7bff, 0x3555];
const F16_VALUES = [1, -2, 0.5, 2 ** -24, 65504, 0.333251953125];
const BF16_BITS = [0x3f80, 0x4049, 0xc2f7, 0x0000];
const BF16_VALUES = [1, 3.140625, -123.5, 0];

function validFile(): Buffer {
  const data = Buffer.concat([
    f32Bytes(F32_VALUES),
    Buffer.from(Uint16Array.from(F16_BITS).buffer),
    Buffer.from(Uint16Array.from(BF16_BITS).buffer),
    f32Bytes([42]),
    Buffer.from(Int32Array.of(7, -7).buffer),
  ]);
  const json = JSON.stringify({
    __metadata__: { format: 'pt' },
    f32: { dtype: 'F32', shape: [3, 4], data_offsets: [0, 48] },
    f16: { dtype: 'F16', shape: [2, 3], data_offsets: [48, 60] },
    bf16: { dtype: 'BF16', shape: [4], data_offsets: [60, 68] },
    scalar: { dtype: 'F32', shape: [], data_offsets: [68, 72] },
    ints: { dtype: 'I32', shape: [2], data_offsets: [72, 80] },
  });
  return rawFile(json.padEnd(Math.ceil(json.length / 8) * 8, ' '), data);
}

async function withFile<T>(path: string, body: (file: SafetensorsFile) => Promise<T>): Promise<T> {
  const file = await openSafetensors(path);
  try {
    return await body(file);
  } finally {
    await file.handle.close();
  }
}

const entry = (file: SafetensorsFile, name: string): TensorEntry => {
  const e = file.tensors.get(name);
  assert.ok(e !== undefined, `no tensor ${name}`);
  return e;
};

test('a valid file reads back exactly (F32, F16, BF16, scalar)', async () => {
  const path = await put(validFile());
  await withFile(path, async (file) => {
    assert.deepEqual([...file.tensors.keys()].sort(), ['bf16', 'f16', 'f32', 'ints', 'scalar']);
    const f32 = entry(file, 'f32');
    assert.deepEqual(f32.shape, [3, 4]);
    assert.equal(f32.byteLength, 48);
    assert.equal(rowLength(f32), 4);
    assert.deepEqual([...(await readRows(file, f32, 0, 3))], F32_VALUES);
    assert.deepEqual([...(await readRows(file, entry(file, 'f16'), 0, 2))], F16_VALUES);
    assert.deepEqual([...(await readRows(file, entry(file, 'bf16'), 0, 4))], BF16_VALUES);
    assert.deepEqual([...(await readRows(file, entry(file, 'scalar'), 0, 1))], [42]);
  });
});

test('readRows reads row ranges', async () => {
  const path = await put(validFile());
  await withFile(path, async (file) => {
    const f32 = entry(file, 'f32');
    assert.deepEqual([...(await readRows(file, f32, 1, 1))], F32_VALUES.slice(4, 8));
    assert.deepEqual([...(await readRows(file, f32, 1, 2))], F32_VALUES.slice(4, 12));
    assert.deepEqual([...(await readRows(file, f32, 2, 0))], []);
    assert.deepEqual([...(await readRows(file, entry(file, 'f16'), 1, 1))], F16_VALUES.slice(3));
    assert.deepEqual([...(await readRows(file, entry(file, 'bf16'), 1, 2))], BF16_VALUES.slice(1, 3));
  });
});

test('readRows out of range is a RangeError', async () => {
  const path = await put(validFile());
  await withFile(path, async (file) => {
    const f32 = entry(file, 'f32');
    await assert.rejects(readRows(file, f32, 2, 2), RangeError);
    await assert.rejects(readRows(file, f32, 3, 1), RangeError);
    await assert.rejects(readRows(file, f32, -1, 1), RangeError);
    await assert.rejects(readRows(file, f32, 0, -1), RangeError);
    await assert.rejects(readRows(file, entry(file, 'bf16'), 0, 5), RangeError);
  });
});

test('readRows on an I32 tensor is a clear GemmaError', async () => {
  const path = await put(validFile());
  await withFile(path, async (file) => {
    await assert.rejects(readRows(file, entry(file, 'ints'), 0, 1), (err: unknown) => {
      assert.ok(err instanceof GemmaError);
      assert.match(err.message, /'ints' is I32/);
      assert.match(err.message, /F32, F16 and BF16/);
      return true;
    });
  });
});

test('writeSafetensors output reads back through openSafetensors', async () => {
  const path = join(dir, 'written.safetensors');
  const values = Float32Array.from([1, -2, 0.5, 3.140625, 96, -0.25]);
  await writeSafetensors(path, [
    { name: 'a', dtype: 'F32', shape: [2, 3] },
    { name: 'b', dtype: 'F16', shape: [3, 2] },
    { name: 'c', dtype: 'BF16', shape: [6] },
  ], (t) => (t.name === 'a' ? [values.subarray(0, 3), values.subarray(3)] : [values]));
  const bytes = await readFile(path);
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0, 'header padded to 8 bytes');
  await withFile(path, async (file) => {
    for (const name of ['a', 'b', 'c']) {
      const e = entry(file, name);
      const rows = e.shape[0]!;
      assert.deepEqual([...(await readRows(file, e, 0, rows))], [...values], name);
    }
  });
  assert.deepEqual([...encodeFloats(Float32Array.of(1, -2), 'BF16')], [0x80, 0x3f, 0x00, 0xc0]);
  assert.deepEqual([...encodeFloats(Float32Array.of(1, -2), 'F16')], [0x00, 0x3c, 0x00, 0xc0]);
});

test('a missing file is a GemmaError', async () => {
  await rejectsFile(join(dir, 'nope.safetensors'), /cannot open .*nope\.safetensors/);
});

test('a file shorter than 8 bytes', async () => {
  await rejectsFile(await put(Buffer.from([1, 2, 3, 4, 5])), /not a valid safetensors file \(truncated: 5 bytes\)/);
  await rejectsFile(await put(Buffer.alloc(0)), /truncated: 0 bytes/);
});

test('a header length above MAX_HEADER_BYTES (2^40)', async () => {
  await rejectsFile(await put(rawFile('{}', Buffer.alloc(0), 2n ** 40n)), new RegExp(`header length 1099511627776 exceeds ${MAX_HEADER_BYTES}`));
  await rejectsFile(await put(rawFile('{}', Buffer.alloc(0), 2n ** 64n - 1n)), /exceeds/);
  await rejectsFile(await put(rawFile('{}', Buffer.alloc(0), BigInt(MAX_HEADER_BYTES) + 1n)), /exceeds/);
});

test('a header length larger than the file', async () => {
  await rejectsFile(await put(rawFile('{"a":1}', Buffer.alloc(0), 1000n)), /truncated: header claims 1000 bytes, file has 15/);
});

test('a header that is not JSON', async () => {
  await rejectsFile(await put(rawFile('{"a": {"dtype": "F32"')), /header is not valid JSON/);
  await rejectsFile(await put(rawFile(Buffer.from([0xff, 0xfe, 0x00, 0x7b]))), /header is not valid JSON/);
});

test('a header that is a JSON array or scalar', async () => {
  await rejectsFile(await put(rawFile('[{"dtype":"F32","shape":[1],"data_offsets":[0,4]}]', Buffer.alloc(4))), /header is not a JSON object/);
  await rejectsFile(await put(rawFile('null')), /header is not a JSON object/);
  await rejectsFile(await put(rawFile('7')), /header is not a JSON object/);
});

test('an entry that is not an object, or an unknown dtype', async () => {
  await rejectsFile(await put(fileFor({ w: 5 })), /entry 'w' is not an object/);
  await rejectsFile(await put(fileFor({ w: { dtype: 'F4', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1))), /tensor 'w' has unknown dtype "F4"/);
  await rejectsFile(await put(fileFor({ w: { shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(4))), /tensor 'w' has unknown dtype/);
});

test('a dtype named like an Object.prototype member is an unknown dtype', async () => {
  for (const dtype of ['toString', 'constructor', '__proto__']) {
    await rejectsFile(await put(fileFor({ w: { dtype, shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(4))), new RegExp(`unknown dtype "${dtype}"`));
  }
});

test('a shape with negative, fractional or non-numeric dims', async () => {
  for (const shape of [[-1, 4], [1.5, 2], ['2', 2], 4, null, [2 ** 53, 1]]) {
    await rejectsFile(await put(fileFor({ w: { dtype: 'F32', shape, data_offsets: [0, 16] } }, Buffer.alloc(16))), /tensor 'w' has an invalid shape/);
  }
});

test('invalid data_offsets', async () => {
  for (const offsets of [[0], [0, 16, 32], [-4, 12], [0, 15.5], '0,16', null]) {
    await rejectsFile(await put(fileFor({ w: { dtype: 'F32', shape: [4], data_offsets: offsets } }, Buffer.alloc(16))), /tensor 'w' has invalid data_offsets/);
  }
});

test('data_offsets that do not match shape × dtype bytes', async () => {
  const data = Buffer.alloc(32);
  await rejectsFile(await put(fileFor({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, data)), /shape \[2, 2\] F32 \(16 bytes\) but data_offsets span 12 bytes/);
  await rejectsFile(await put(fileFor({ w: { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 16] } }, data)), /\(8 bytes\) but data_offsets span 16/);
  await rejectsFile(await put(fileFor({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, data)), /tensor 'w'/);
  await rejectsFile(await put(fileFor({ w: { dtype: 'F64', shape: [2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, data)), /tensor 'w'/);
});

test('data_offsets beyond the end of the file (truncated file)', async () => {
  const path = await put(validFile());
  const { size } = await stat(path);
  await truncate(path, size - 4);
  await rejectsFile(path, /truncated: tensor 'ints' ends at byte \d+ but the file has \d+/);
  await rejectsFile(await put(fileFor({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(15))), /truncated: tensor 'w'/);
  await rejectsFile(await put(fileFor({ w: { dtype: 'F32', shape: [1], data_offsets: [2 ** 40, 2 ** 40 + 4] } }, Buffer.alloc(4))), /truncated: tensor 'w'/);
});

test('two tensors that overlap', async () => {
  const data = Buffer.alloc(24);
  await rejectsFile(await put(fileFor({
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
  }, data)), /tensors 'a' and 'b' overlap/);
  await rejectsFile(await put(fileFor({
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
  }, data)), /tensors 'a' and 'b' overlap/);
  await rejectsFile(await put(fileFor({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'I32', shape: [2], data_offsets: [0, 8] },
  }, data)), /overlap/);
});

test('error messages name the file', async () => {
  const path = join(dir, 'named-shard.safetensors');
  await writeFile(path, Buffer.from([1, 2]));
  await rejectsFile(path, /^named-shard\.safetensors: not a valid safetensors file/);
});
