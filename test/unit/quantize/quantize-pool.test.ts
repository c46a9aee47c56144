import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantizeRows, type QuantScheme } from '../../../src/quantize/block-quant.js';
import { QuantizePool } from '../../../src/quantize/quantize-pool.js';
import { fillUniform, rng } from '../../../src/util/random.js';

function matrix(rows: number, cols: number, seed: number): Float32Array {
  const w = new Float32Array(rows * cols);
  fillUniform(w, rng(seed), 0, 0.05);
  return w;
}

const SCHEMES: QuantScheme[] = [
  { bits: 4, blockSize: 64, asymmetric: true },
  { bits: 4, blockSize: 32, asymmetric: false },
  { bits: 8, blockSize: 128, asymmetric: false },
];

test('rows shared between threads give the bytes of one thread', async () => {
  for (const [threads, rows, cols] of [[2, 601, 2304], [4, 3, 400_000]] as const) {
    const pool = new QuantizePool(threads);
    try {
      for (const scheme of SCHEMES) {
        const w = matrix(rows, cols, rows + scheme.blockSize);
        const alone = quantizeRows(w, rows, cols, scheme);
        const shared = await pool.quantize(w, rows, cols, scheme);
        assert.equal(shared.rows, rows);
        assert.deepEqual(shared.codes, alone.codes, `${threads} threads, ${JSON.stringify(scheme)}: codes`);
        assert.deepEqual(shared.scales, alone.scales, 'scales');
        assert.deepEqual(shared.zeroPoints, alone.zeroPoints, 'zero points');
      }
    } finally {
      await pool.close();
    }
  }
});

test('a closed pool starts its workers again; a bad shape is refused', async () => {
  const pool = new QuantizePool(2);
  const scheme = SCHEMES[0]!;
  const w = matrix(512, 2304, 1);
  const first = await pool.quantize(w, 512, 2304, scheme);
  await pool.close();
  try {
    assert.deepEqual((await pool.quantize(w, 512, 2304, scheme)).codes, first.codes);
    await assert.rejects(pool.quantize(w, 511, 2304, scheme), RangeError);
  } finally {
    await pool.close();
  }
});
