import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantizeRows, quantizeRows, type QuantScheme } from '../../../src/quantize/block-quant.js';
import { fillUniform, rng } from '../../../src/util/random.js';

const BLOCK_SIZES = [16, 32, 64, 128, 256];
const SHAPES: [number, number][] = [[1, 16], [3, 37], [5, 256], [7, 300], [2, 513]];

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const w = new Float32Array(rows * cols);
  fillUniform(w, rng(seed), 0.01, 0.5);
  return w;
}

/**
 * The largest error a code can make: half a step (the block's |scale|). Symmetric blocks
 * map their extreme to the lowest code, so the opposite side tops out one code short
 * and values there clamp with up to a full step of error.
 */
function bound(value: number, step: number, s: QuantScheme): number {
  if (s.asymmetric) return step / 2;
  return Math.max(step / 2, Math.abs(value) - ((1 << (s.bits - 1)) - 1) * step);
}

function checkRoundTrip(w: Float32Array, rows: number, cols: number, s: QuantScheme): void {
  const q = quantizeRows(w, rows, cols, s);
  const back = dequantizeRows(q, s);
  const nb = Math.ceil(cols / s.blockSize);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const scale = Math.abs(q.scales[r * nb + Math.floor(c / s.blockSize)]!);
      const value = w[r * cols + c]!;
      const err = Math.abs(back[r * cols + c]! - value);
      const limit = bound(value, scale, s);
      assert.ok(err <= limit + 1e-6 * Math.abs(value), `r${r} c${c}: error ${err} > ${limit} (${JSON.stringify(s)}, ${rows}x${cols})`);
    }
  }
}

for (const bits of [4, 8] as const) {
  for (const asymmetric of [false, true]) {
    test(`int${bits} ${asymmetric ? 'asymmetric' : 'symmetric'}: every block size and odd shapes round-trip within the quantization bound`, () => {
      for (const blockSize of BLOCK_SIZES) {
        for (const [rows, cols] of SHAPES) checkRoundTrip(randomMatrix(rows, cols, rows * 1000 + cols), rows, cols, { bits, blockSize, asymmetric });
      }
    });
  }
}

test('layout: [rows, blocks, blockSize·bits/8] codes, low nibble first, padding decodes to zero', () => {
  const s: QuantScheme = { bits: 4, blockSize: 16, asymmetric: false };
  const w = new Float32Array(17).map((_, i) => i - 8);
  const q = quantizeRows(w, 1, 17, s);
  assert.equal(q.blocksPerRow, 2);
  assert.equal(q.codes.length, 2 * 8);
  // Block 0 holds -8..7: the extreme -8 gets scale 1 (= -8 / -8), so code = value + 8 = index.
  assert.equal(q.scales[0], 1);
  assert.equal(q.codes[0], 0x10, 'codes 0 (low nibble) and 1 (high nibble)');
  assert.equal(q.codes[7], 0xfe);
  // Block 1 holds 9 alone, padded with 15 zeros: scale 9 / -8, code of 9 is -8 + 8 = 0; zeros are code 8.
  assert.equal(q.codes[8]! & 0x0f, 0);
  assert.equal(q.codes[8]! >> 4, 8);
  assert.deepEqual([...dequantizeRows(q, s)], [...w]);
});

test('symmetric int8 stores codes offset by 128 with signed scales', () => {
  const s: QuantScheme = { bits: 8, blockSize: 16, asymmetric: false };
  const w = new Float32Array(16).fill(0.5);
  w[3] = -2;
  const q = quantizeRows(w, 1, 16, s);
  assert.equal(q.scales[0], Math.fround(-2 / -128));
  assert.equal(q.codes[3], 128 - 128);
  assert.equal(q.codes[0], 128 + 32);
  assert.equal(q.zeroPoints, undefined);
});

test('asymmetric zero points are packed per row like the codes and keep 0 exact', () => {
  const s: QuantScheme = { bits: 4, blockSize: 16, asymmetric: true };
  const rows = 2;
  const cols = 48;
  const w = new Float32Array(rows * cols).map((_, i) => (i % 7) * 0.25 + 0.1);
  w[5] = 0;
  const q = quantizeRows(w, rows, cols, s);
  assert.equal(q.zeroPoints!.length, rows * Math.ceil(3 / 2));
  const back = dequantizeRows(q, s);
  assert.equal(back[5], 0);
  // All-positive blocks have their minimum clamped to 0, hence zero point 0.
  assert.equal(q.zeroPoints![0]! & 0x0f, 0);
});

test('an all-zero block quantizes to exact zeros, symmetric and asymmetric', () => {
  for (const asymmetric of [false, true]) {
    const s: QuantScheme = { bits: 4, blockSize: 32, asymmetric };
    const back = dequantizeRows(quantizeRows(new Float32Array(64), 2, 32, s), s);
    assert.ok(back.every((v) => v === 0));
  }
});

test('rejects a value count that does not match the shape', () => {
  assert.throws(() => quantizeRows(new Float32Array(10), 3, 4, { bits: 4, blockSize: 16, asymmetric: false }), RangeError);
});
