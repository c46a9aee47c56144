import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheRows, KvCache } from '../../../src/runtime/kv-cache.js';

test('rows append, grow past the initial capacity, and tail() views the last rows without copying', () => {
  const c = new CacheRows(3, 'float32', 2);
  for (let r = 0; r < 5; r++) c.append(Float32Array.from([r, r, r]));
  assert.equal(c.rows, 5);
  assert.deepEqual([...c.tail(2)], [3, 3, 3, 4, 4, 4]);
  assert.deepEqual([...c.tail(100)].filter((_, i) => i % 3 === 0), [0, 1, 2, 3, 4]);
  const view = c.tail(1);
  c.append(Float32Array.from([9, 9, 9]));
  assert.equal(view.buffer, c.tail(1).buffer, 'same backing buffer while capacity suffices');
});

test('a layer\'s position-major new rows are split into one contiguous cache per KV head', () => {
  const kv = new KvCache(2, 2, 3);
  // Two new rows of [head 0 | head 1], 3 floats each.
  kv.append(1, Float32Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]), Float32Array.from([5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8]));
  assert.deepEqual([...kv.keys[1]![0]!.tail(9)], [1, 1, 1, 3, 3, 3]);
  assert.deepEqual([...kv.keys[1]![1]!.tail(9)], [2, 2, 2, 4, 4, 4]);
  assert.deepEqual([...kv.values[1]![1]!.tail(1)], [8, 8, 8]);
  assert.equal(kv.keys[0]![0]!.rows, 0);
});

test('truncate forgets later rows; appends then overwrite them', () => {
  const kv = new KvCache(1, 1, 2);
  kv.append(0, Float32Array.from([1, 1, 2, 2, 3, 3]), Float32Array.from([1, 1, 2, 2, 3, 3]));
  kv.truncate(1);
  assert.equal(kv.length, 1);
  kv.append(0, Float32Array.from([7, 7]), Float32Array.from([7, 7]));
  assert.deepEqual([...kv.keys[0]![0]!.tail(5)], [1, 1, 7, 7]);
});

test('an fp16 cache (CUDA graphs) keeps bit patterns in Uint16Array rows and grows the same way', () => {
  const kv = new KvCache(1, 2, 2, 'float16');
  for (let r = 0; r < 300; r++) kv.append(0, Uint16Array.from([r, r, 1000 + r, 1000 + r]), Uint16Array.from([r, 0, 0, r]));
  const keys = kv.keys[0]![1]!.tail(2);
  assert.ok(keys instanceof Uint16Array);
  assert.deepEqual([...keys], [1298, 1298, 1299, 1299]);
  assert.deepEqual([...kv.values[0]![0]!.tail(1)], [299, 0]);
});
