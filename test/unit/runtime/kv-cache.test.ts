import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheRows, KvCache } from '../../../src/runtime/kv-cache.js';

test('rows append, grow past the initial capacity, and tail() views the last rows without copying', () => {
  const c = new CacheRows(3, 2);
  for (let r = 0; r < 5; r++) c.append(Float32Array.from([r, r, r]));
  assert.equal(c.rows, 5);
  assert.deepEqual([...c.tail(2)], [3, 3, 3, 4, 4, 4]);
  assert.deepEqual([...c.tail(100)].filter((_, i) => i % 3 === 0), [0, 1, 2, 3, 4]);
  const view = c.tail(1);
  c.append(Float32Array.from([9, 9, 9]));
  assert.equal(view.buffer, c.tail(1).buffer, 'same backing buffer while capacity suffices');
});

test('truncate forgets later rows; appends then overwrite them', () => {
  const kv = new KvCache(2, 2);
  for (const rows of [kv.keys[0]!, kv.keys[1]!, kv.values[0]!, kv.values[1]!]) rows.append(Float32Array.from([1, 1, 2, 2, 3, 3]));
  kv.truncate(1);
  assert.equal(kv.length, 1);
  kv.keys[0]!.append(Float32Array.from([7, 7]));
  assert.deepEqual([...kv.keys[0]!.tail(5)], [1, 1, 7, 7]);
});
