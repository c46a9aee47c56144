import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capacityFor, KvCache, LayerCache, ringKeeps, slidingRing, type KvLayout } from '../../../src/runtime/kv-cache.js';

/** Head h's key row r and the value column r, read back from the graph layouts. */
const keyRow = (c: LayerCache, h: number, r: number): number[] => [...c.keys.subarray((h * c.capacity + r) * c.headDim, (h * c.capacity + r + 1) * c.headDim)];
const valueColumn = (c: LayerCache, h: number, r: number): number[] => c.layout.transposedValues
  ? Array.from({ length: c.headDim }, (_, d) => c.values[(h * c.headDim + d) * c.capacity + r]!)
  : [...c.values.subarray((h * c.capacity + r) * c.headDim, (h * c.capacity + r + 1) * c.headDim)];

const OPS: KvLayout = { type: 'float32', transposedValues: true };
const GQA: KvLayout = { type: 'float32', transposedValues: false };

/** Position-major rows [rows, heads · headDim] whose every value encodes (row, head, dim). */
const rows = (from: number, count: number, heads: number, hd: number, sign = 1): Float32Array =>
  Float32Array.from({ length: count * heads * hd }, (_, i) => sign * (1000 * (from + Math.floor(i / (heads * hd))) + 10 * Math.floor((i % (heads * hd)) / hd) + (i % hd)));

test('capacity is padded by less than 32 rows or a sixteenth of the length, in steps that grow with it', () => {
  assert.equal(capacityFor(0), 32, 'never empty: the graph needs a row');
  assert.equal(capacityFor(1), 32);
  assert.equal(capacityFor(33), 64);
  assert.equal(capacityFor(4096), 4096);
  assert.equal(capacityFor(4097), 4352);
  for (let n = 1; n <= 20000; n += 7) {
    const c = capacityFor(n);
    assert.ok(c >= n && c - n < Math.max(32, n / 16), `${n} → ${c}`);
  }
});

for (const layout of [OPS, GQA]) {
  const values = layout.transposedValues ? 'transposed values [heads, head_dim, capacity]' : 'values like keys';
  test(`appended rows land as keys [heads, capacity, head_dim] and ${values}, kept across growth and truncation`, () => {
    const c = new LayerCache(2, 3, layout);
    c.append(rows(0, 5, 2, 3), rows(0, 5, 2, 3, -1));
    assert.deepEqual([c.length, c.capacity], [5, 32]);
    for (let n = 0; n < 40; n++) c.append(rows(5 + n, 1, 2, 3), rows(5 + n, 1, 2, 3, -1));
    assert.deepEqual([c.length, c.capacity], [45, 64]);
    assert.equal(c.keys.length, 2 * 64 * 3);
    c.truncate(44);
    c.append(rows(44, 1, 2, 3), rows(44, 1, 2, 3, -1));
    for (const r of [0, 4, 31, 32, 44]) {
      for (const h of [0, 1]) {
        assert.deepEqual(keyRow(c, h, r), [0, 1, 2].map((d) => 1000 * r + 10 * h + d));
        assert.deepEqual(valueColumn(c, h, r), [0, 1, 2].map((d) => -(1000 * r + 10 * h + d)));
      }
    }
    c.truncate(3);
    assert.deepEqual([c.length, c.capacity], [3, 32]);
    assert.deepEqual(valueColumn(c, 1, 2), [0, 1, 2].map((d) => -(2000 + 10 + d)), 'rows kept when the arrays shrink');
  });
}

test('truncate forgets later rows and shrinks arrays at least twice too large; appends then overwrite', () => {
  const c = new LayerCache(1, 2, OPS);
  c.append(rows(0, 100, 1, 2), rows(0, 100, 1, 2));
  assert.equal(c.capacity, 128);
  c.truncate(90);
  assert.deepEqual([c.length, c.capacity], [90, 128], 'a short rollback keeps the arrays');
  c.truncate(3);
  assert.deepEqual([c.length, c.capacity], [3, 32]);
  c.append(rows(7, 1, 1, 2), rows(7, 1, 1, 2));
  assert.deepEqual(keyRow(c, 0, 2), [2000, 2001]);
  assert.deepEqual(keyRow(c, 0, 3), [7000, 7001]);
  assert.deepEqual(valueColumn(c, 0, 3), [7000, 7001]);
  c.truncate(0);
  assert.deepEqual([c.length, c.capacity, c.keys.length], [0, 32, 64]);
});

test('every layer holds the same positions and capacity; an fp16 cache (CUDA graphs) moves Uint16Array bit patterns', () => {
  const kv = new KvCache([Infinity, Infinity], 2, 2, { type: 'float16', transposedValues: true });
  for (let r = 0; r < 40; r++) {
    for (const layer of [0, 1]) kv.append(layer, Uint16Array.from([r, r, 1000 + r, 1000 + r]), Uint16Array.from([r, 0, 0, r]));
  }
  assert.deepEqual([kv.length, kv.layers[0]!.capacity, kv.layers[1]!.capacity], [40, 64, 64]);
  const layer = kv.layers[1]!;
  assert.ok(layer.keys instanceof Uint16Array && layer.values instanceof Uint16Array);
  assert.deepEqual(keyRow(layer, 1, 39), [1039, 1039]);
  assert.deepEqual(valueColumn(layer, 0, 39), [39, 0]);
});

for (const layout of [OPS, GQA]) {
  test(`a ring of 40 rows (${layout.transposedValues ? 'transposed values' : 'values like keys'}) stops growing at 40 and keeps position q at row q mod 40`, () => {
    const ring = new LayerCache(2, 3, layout, 40);
    const full = new KvCache([Infinity, 40], 2, 3, layout);
    for (const [from, count] of [[0, 5], [5, 30], [35, 1], [36, 17], [53, 1], [54, 100]] as const) {
      ring.append(rows(from, count, 2, 3), rows(from, count, 2, 3, -1));
      full.append(0, rows(from, count, 2, 3), rows(from, count, 2, 3, -1));
      full.append(1, rows(from, count, 2, 3), rows(from, count, 2, 3, -1));
      assert.ok(ring.capacity <= 40, `${ring.capacity} rows at ${ring.length} positions`);
    }
    assert.deepEqual([ring.length, ring.capacity], [154, 40]);
    assert.deepEqual([full.length, full.layers[0]!.capacity, full.layers[1]!.capacity], [154, 160, 40], 'a sliding layer beside a global one');
    for (let q = 154 - 40; q < 154; q++) {
      for (const h of [0, 1]) {
        assert.deepEqual(keyRow(ring, h, q % 40), [0, 1, 2].map((d) => 1000 * q + 10 * h + d), `position ${q}`);
        assert.deepEqual(valueColumn(ring, h, q % 40), [0, 1, 2].map((d) => -(1000 * q + 10 * h + d)));
      }
    }
    ring.truncate(150);
    ring.append(rows(150, 1, 2, 3), rows(150, 1, 2, 3, -1));
    assert.deepEqual([ring.length, ring.capacity], [151, 40], 'a wrapped ring keeps its arrays when cut back');
    assert.deepEqual(keyRow(ring, 1, 150 % 40), [0, 1, 2].map((d) => 150_000 + 10 + d));
    ring.truncate(0);
    assert.deepEqual([ring.length, ring.capacity], [0, 40], 'emptied, it starts over at row 0');
    ring.append(rows(0, 3, 2, 3), rows(0, 3, 2, 3, -1));
    assert.deepEqual(keyRow(ring, 0, 2), [2000, 2001, 2002]);
  });
}

test('the ring is the window plus a prompt chunk for the ops kernel; GroupQueryAttention keeps every position', () => {
  assert.deepEqual(slidingRing(4096, 'ops', 512), { rows: 4608, window: 4096 });
  assert.equal(slidingRing(4096, 'gqa', 512), undefined);
});

test('a rollback keeps a ring exact while it holds the window − 1 positions before the new end', () => {
  const ring = { rows: 12, window: 8 };
  assert.ok(ringKeeps(ring, 12, 0), 'never wrapped: every position is there');
  assert.ok(ringKeeps(ring, 40, 40));
  assert.ok(ringKeeps(ring, 40, 35), 'positions 28 … 34 are still held');
  assert.ok(!ringKeeps(ring, 40, 34), 'position 27 was overwritten by 39');
  assert.ok(!ringKeeps(ring, 40, 0));
  assert.ok(ringKeeps(undefined, 40, 3));
});
