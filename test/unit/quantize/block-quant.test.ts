import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantizeRows, quantizeRows, type QuantizedRows, type QuantScheme } from '../../../src/quantize/block-quant.js';
import { roundToF16Precision } from '../../../src/util/float16.js';
import { fillUniform, rng } from '../../../src/util/random.js';

const BLOCK_SIZES = [16, 32, 64, 128, 256];
const SHAPES: [number, number][] = [[1, 16], [3, 37], [5, 256], [7, 300], [2, 513]];

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const w = new Float32Array(rows * cols);
  fillUniform(w, rng(seed), 0.01, 0.5);
  return w;
}

/** Every value decodes to the representable value of its block nearest to it: rounding and clamping are right for the stored scale. */
function checkNearest(w: Float32Array, rows: number, cols: number, s: QuantScheme): void {
  const q = quantizeRows(w, rows, cols, s);
  const back = dequantizeRows(q, s);
  const nb = Math.ceil(cols / s.blockSize);
  const levels = 1 << s.bits;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / s.blockSize);
      const scale = q.scales[r * nb + b]!;
      const zp = s.asymmetric ? zeroPointOf(q, r, b, s) : levels / 2;
      const value = w[r * cols + c]!;
      let best = Infinity;
      for (let code = 0; code < levels; code++) best = Math.min(best, Math.abs(Math.fround((code - zp) * scale) - value));
      const err = Math.abs(back[r * cols + c]! - value);
      assert.ok(err <= best + 1e-6 * Math.abs(value), `r${r} c${c}: error ${err}, nearest level ${best} (${JSON.stringify(s)}, ${rows}x${cols})`);
    }
  }
}

function zeroPointOf(q: QuantizedRows, row: number, block: number, s: QuantScheme): number {
  const perRow = Math.ceil((q.blocksPerRow * s.bits) / 8);
  if (s.bits === 8) return q.zeroPoints![row * perRow + block]!;
  const byte = q.zeroPoints![row * perRow + (block >> 1)]!;
  return (block & 1) === 0 ? byte & 0x0f : byte >> 4;
}

/** Σ (w − decoded)² of each block. */
function blockErrors(w: Float32Array, back: Float32Array, blockSize: number): number[] {
  const errors: number[] = [];
  for (let from = 0; from < w.length; from += blockSize) {
    let e = 0;
    for (let i = from; i < from + blockSize; i++) e += (w[i]! - back[i]!) ** 2;
    errors.push(e);
  }
  return errors;
}

/**
 * The plain min/max quantizer the exporter starts from (symmetric maps the extreme to the lowest code, asymmetric spans
 * [min(0, min), max(0, max)]), its scale stored with the exporter's precision.
 */
function minMaxRoundTrip(w: Float32Array, s: QuantScheme): Float32Array {
  const back = new Float32Array(w.length);
  const levels = (1 << s.bits) - 1;
  for (let from = 0; from < w.length; from += s.blockSize) {
    const block = w.subarray(from, from + s.blockSize);
    const lo = Math.min(0, ...block);
    const hi = Math.max(0, ...block);
    const exact = s.asymmetric ? (hi - lo) / levels : (-lo > hi ? lo : hi) / -(1 << (s.bits - 1));
    const zp = s.asymmetric ? Math.round(-lo / exact) : 1 << (s.bits - 1);
    const scale = roundToF16Precision(exact);
    for (let j = 0; j < block.length; j++) {
      const code = scale === 0 ? zp : Math.min(levels, Math.max(0, Math.round(block[j]! / scale) + zp));
      back[from + j] = (code - zp) * scale;
    }
  }
  return back;
}

function gaussianMatrix(length: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length }, () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()));
}

for (const bits of [4, 8] as const) {
  for (const asymmetric of [false, true]) {
    const name = `int${bits} ${asymmetric ? 'asymmetric' : 'symmetric'}`;
    test(`${name}: every block size and odd shapes decode each value to its block's nearest level`, () => {
      for (const blockSize of BLOCK_SIZES) {
        for (const [rows, cols] of SHAPES) checkNearest(randomMatrix(rows, cols, rows * 1000 + cols), rows, cols, { bits, blockSize, asymmetric });
      }
    });

    test(`${name}: the refined scale is never worse than min/max in any block, and better overall on bell-shaped weights (int4 by 3 %)`, () => {
      for (const blockSize of [32, 64, 128]) {
        const s: QuantScheme = { bits, blockSize, asymmetric };
        const w = gaussianMatrix(64 * 256, blockSize + bits);
        const refined = blockErrors(w, dequantizeRows(quantizeRows(w, 64, 256, s), s), blockSize);
        const plain = blockErrors(w, minMaxRoundTrip(w, s), blockSize);
        refined.forEach((e, b) => assert.ok(e <= plain[b]! * (1 + 1e-9), `block ${b}: ${e} > ${plain[b]} (${JSON.stringify(s)})`));
        const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
        assert.ok(sum(refined) < (bits === 4 ? 0.97 : 0.995) * sum(plain), `${JSON.stringify(s)}: ${sum(refined)} against ${sum(plain)}`);
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
