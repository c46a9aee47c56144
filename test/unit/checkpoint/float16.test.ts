import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, roundToF16, roundToF16Precision } from '../../../src/util/float16.js';
import { rng } from '../../../src/util/random.js';

const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** The fp32 value with the given bit pattern. */
function fromBits(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits >>> 0);
  return view.getFloat32(0);
}

function decodeF16(bits: number): number {
  const out = new Float32Array(1);
  f16ToF32(Uint16Array.of(bits), out);
  return out[0]!;
}

function decodeBf16(bits: number): number {
  const out = new Float32Array(1);
  bf16ToF32(Uint16Array.of(bits), out);
  return out[0]!;
}

function encodesTo(encode: (v: number) => number, cases: Array<[number, number]>): void {
  for (const [value, bits] of cases) {
    assert.equal(hex(encode(value)), hex(bits), `encode(${Object.is(value, -0) ? '-0' : value})`);
  }
}

test('f16: exact values encode to their bit patterns', () => {
  encodesTo(f32ToF16, [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [1.5, 0x3e00],
    [65504, 0x7bff], [-65504, 0xfbff], [2 ** -14, 0x0400], [1024, 0x6400], [0.1, 0x2e66], [1 / 3, 0x3555],
  ]);
});

test('f16: subnormals', () => {
  encodesTo(f32ToF16, [
    [2 ** -24, 0x0001], [-(2 ** -24), 0x8001], [3 * 2 ** -24, 0x0003], [2 ** -15, 0x0200],
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -25, 0x0000], // exactly half the smallest subnormal: ties to even (0)
    [-(2 ** -25), 0x8000],
    [2 ** -25 * 1.0001, 0x0001], // just above half: rounds up
    [3 * 2 ** -25, 0x0002], // 1.5 units: ties to even (2)
    [5 * 2 ** -25, 0x0002], // 2.5 units: ties to even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // 1023.5 units: rounds up into the smallest normal
    [2 ** -26, 0x0000], [1e-40, 0x0000], [-1e-40, 0x8000], // f32 subnormal input underflows to signed zero
  ]);
  assert.equal(decodeF16(0x0001), 2 ** -24);
  assert.equal(decodeF16(0x03ff), 1023 * 2 ** -24);
  assert.equal(decodeF16(0x8001), -(2 ** -24));
  assert.equal(decodeF16(0x0200), 2 ** -15);
});

test('f16: round to nearest, ties to even', () => {
  encodesTo(f32ToF16, [
    [1 + 2 ** -11, 0x3c00], // half-way between 0x3c00 (even) and 0x3c01
    [1 + 3 * 2 ** -11, 0x3c02], // half-way between 0x3c01 (odd) and 0x3c02
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above half
    [1 + 2 ** -11 - 2 ** -20, 0x3c00], // just below half
    [2 - 2 ** -11, 0x4000], // tie that carries into the exponent
    [-(1 + 3 * 2 ** -11), 0xbc02],
    [2048 + 1, 0x6800], // 2049 between 2048 and 2050: ties to even mantissa
    [2048 + 3, 0x6802],
  ]);
});

test('f16: overflow to infinity, inf and NaN', () => {
  encodesTo(f32ToF16, [
    [65519, 0x7bff], // below the half-way point to 65536
    [65519.99, 0x7bff],
    [65520, 0x7c00], // tie between 65504 (odd mantissa) and 2^16: rounds to even, i.e. infinity
    [65536, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00], [3.4e38, 0x7c00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ]);
  assert.equal(hex(f32ToF16(NaN)), '0x7e00');
  const negNaN = fromBits(0xffc00000);
  assert.ok(Number.isNaN(negNaN));
  assert.equal(hex(f32ToF16(negNaN) & 0x7fff), '0x7e00');
  assert.ok(Number.isNaN(decodeF16(f32ToF16(fromBits(0x7f800001)))), 'a NaN with a low payload stays NaN');
});

test('f16: decoding special patterns', () => {
  assert.equal(decodeF16(0x3c00), 1);
  assert.equal(decodeF16(0xc000), -2);
  assert.equal(decodeF16(0x7bff), 65504);
  assert.equal(decodeF16(0x0400), 2 ** -14);
  assert.equal(decodeF16(0x3555), 0.333251953125);
  assert.equal(decodeF16(0x7c00), Infinity);
  assert.equal(decodeF16(0xfc00), -Infinity);
  assert.ok(Object.is(decodeF16(0x8000), -0));
  assert.ok(Object.is(decodeF16(0x0000), 0));
  for (const nan of [0x7c01, 0x7e00, 0x7fff, 0xfe00]) assert.ok(Number.isNaN(decodeF16(nan)), hex(nan));
});

test('f16: every one of the 65536 patterns round-trips', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const floats = new Float32Array(65536);
  f16ToF32(all, floats);
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      assert.ok(Number.isNaN(floats[h]!), hex(h));
      assert.equal(f32ToF16(floats[h]!) & 0x7fff, 0x7e00, hex(h));
    } else if (f32ToF16(floats[h]!) !== h) {
      assert.fail(`${hex(h)} → ${floats[h]} → ${hex(f32ToF16(floats[h]!))}`);
    }
  }
});

test('f16ToF32 converts whole arrays and honours a dst offset', () => {
  const backing = new Float32Array(5).fill(7);
  const dst = new Float32Array(backing.buffer, 4, 3);
  f16ToF32(Uint16Array.of(0x3c00, 0xc000, 0x3800), dst);
  assert.deepEqual([...backing], [7, 1, -2, 0.5, 7]);
});

test('bf16: exact values and truncation', () => {
  encodesTo(f32ToBf16, [
    [0, 0x0000], [-0, 0x8000], [1, 0x3f80], [-2, 0xc000], [0.5, 0x3f00], [3, 0x4040],
    [Math.PI, 0x4049], // 0x40490fdb: low half below 0x8000
    [0.1, 0x3dcd], // 0x3dcccccd: low half above 0x8000
    [fromBits(0x7f7f0000), 0x7f7f], // largest finite bf16
    [fromBits(0x00010000), 0x0001], // f32 subnormal that is a bf16 subnormal
  ]);
});

test('bf16: round to nearest, ties to even', () => {
  encodesTo(f32ToBf16, [
    [fromBits(0x3f808000), 0x3f80], // tie, even below
    [fromBits(0x3f818000), 0x3f82], // tie, odd below: round up
    [fromBits(0x3f808001), 0x3f81], // just above the tie
    [fromBits(0x3f807fff), 0x3f80], // just below the tie
    [fromBits(0xbf818000), 0xbf82],
    [fromBits(0x3fff8000), 0x4000], // carry into the exponent
    [fromBits(0x00008000), 0x0000], // subnormal tie to zero
    [fromBits(0x00018000), 0x0002],
  ]);
});

test('bf16: overflow to infinity, inf and NaN', () => {
  encodesTo(f32ToBf16, [
    [fromBits(0x7f7fffff), 0x7f80], // largest f32 rounds up to infinity
    [fromBits(0x7f7f8000), 0x7f80], // tie at the top, odd below: infinity
    [fromBits(0x7f7f7fff), 0x7f7f],
    [fromBits(0xff7fffff), 0xff80],
    [Infinity, 0x7f80], [-Infinity, 0xff80],
  ]);
  assert.equal(hex(f32ToBf16(NaN)), '0x7fc0');
  // Any NaN stays NaN (JS may canonicalise the payload on the way in, but never to infinity).
  const lowNaN = f32ToBf16(fromBits(0x7f800001));
  assert.ok(Number.isNaN(decodeBf16(lowNaN)), hex(lowNaN));
  const negNaN = f32ToBf16(fromBits(0xffffffff));
  assert.ok(Number.isNaN(decodeBf16(negNaN)), hex(negNaN));
});

test('bf16: decoding is the upper half of the fp32 word', () => {
  assert.equal(decodeBf16(0x3f80), 1);
  assert.equal(decodeBf16(0xc000), -2);
  assert.equal(decodeBf16(0x4049), fromBits(0x40490000));
  assert.equal(decodeBf16(0x7f80), Infinity);
  assert.equal(decodeBf16(0xff80), -Infinity);
  assert.equal(decodeBf16(0x0001), 2 ** -133);
  assert.ok(Object.is(decodeBf16(0x8000), -0));
  assert.ok(Number.isNaN(decodeBf16(0x7fc0)));
  assert.ok(Number.isNaN(decodeBf16(0xff81)));
});

test('bf16: every one of the 65536 patterns round-trips', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const floats = new Float32Array(65536);
  bf16ToF32(all, floats);
  for (let h = 0; h < 65536; h++) {
    const back = f32ToBf16(floats[h]!);
    const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    if (isNaN) {
      assert.ok(Number.isNaN(floats[h]!) && Number.isNaN(decodeBf16(back)), hex(h));
    } else if (back !== h) {
      assert.fail(`${hex(h)} → ${floats[h]} → ${hex(back)}`);
    }
  }
});

test('bf16ToF32 honours a dst offset and leaves the rest alone', () => {
  const backing = new Float32Array(4).fill(9);
  bf16ToF32(Uint16Array.of(0x3f80, 0x4000), new Float32Array(backing.buffer, 4, 2));
  assert.deepEqual([...backing], [9, 1, 2, 9]);
});

test('fp16 precision in fp32: equal to roundToF16 over fp16\'s normal range, beyond it keeps the exponent', () => {
  const next = rng(11);
  for (let i = 0; i < 20000; i++) {
    const v = (next() - 0.5) * 2 ** (Math.floor(next() * 28) - 13);
    if (Math.abs(v) >= 2 ** -14 && Math.abs(v) <= 65504) assert.equal(roundToF16Precision(v), roundToF16(v), `${v}`);
  }
  assert.equal(roundToF16Precision(1 + 2 ** -11), 1, 'a tie rounds to the even significand');
  assert.equal(roundToF16Precision(1 + 3 * 2 ** -11), 1 + 2 ** -9, 'a tie rounds up to the even significand');
  assert.equal(roundToF16Precision(2 ** -30 * (1 + 2 ** -12)), 2 ** -30, 'below fp16\'s range: 11 significant bits, no underflow');
  assert.equal(roundToF16Precision(2 ** -30 * 1.5), 2 ** -30 * 1.5);
  assert.equal(roundToF16Precision(1e6), 1e6 - (1e6 % 512), 'above fp16\'s range: 11 significant bits, no overflow');
  assert.equal(roundToF16Precision(-Infinity), -Infinity);
});
