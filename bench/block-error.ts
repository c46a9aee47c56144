/**
 * Weight-level error of the exporter's block quantizer (src/quantize/block-quant.ts) by block size,
 * on three weight distributions. The generated test checkpoints draw uniform weights, whose block
 * maximum hardly grows with the block: they hide what larger blocks cost on trained weights, which
 * are bell-shaped with heavy tails. Relative RMS error = ‖W − dequant(quant(W))‖ / ‖W‖ over
 * `--rows` rows of 2304 columns (gemma-2-2b's hidden size), seeded, so the table is reproducible.
 *
 *   node dist/bench/block-error.js [--rows 1024] [--blocks 32,64,128]
 */
import { parseArgs } from 'node:util';
import { dequantizeRows, quantizeRows, type QuantScheme } from '../src/quantize/block-quant.js';

const COLS = 2304;

/** xorshift32 in [0, 1): the same weights on every run. */
function uniformSource(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function gaussianSource(seed: number): () => number {
  const u = uniformSource(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Student's t with ν degrees of freedom: a normal over the root of a scaled χ²(ν). */
function studentSource(seed: number, nu: number): () => number {
  const g = gaussianSource(seed);
  return () => {
    let chi = 0;
    for (let i = 0; i < nu; i++) chi += g() ** 2;
    return g() / Math.sqrt(chi / nu);
  };
}

const DISTRIBUTIONS: Record<string, (seed: number) => () => number> = {
  'uniform (the test checkpoints)': (seed) => {
    const u = uniformSource(seed);
    return () => u() - 0.5;
  },
  gaussian: gaussianSource,
  "heavy-tailed (Student's t, ν = 5)": (seed) => studentSource(seed, 5),
};

function relativeRmsError(w: Float32Array, rows: number, scheme: QuantScheme): number {
  const back = dequantizeRows(quantizeRows(w, rows, COLS, scheme), scheme);
  let err = 0;
  let norm = 0;
  for (let i = 0; i < w.length; i++) {
    err += (back[i]! - w[i]!) ** 2;
    norm += w[i]! ** 2;
  }
  return Math.sqrt(err / norm);
}

function main(): void {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '1024' }, blocks: { type: 'string', default: '32,64,128' } } });
  const rows = Number(values.rows);
  const blocks = values.blocks.split(',').map(Number);
  const columns = ([4, 8] as const).flatMap((bits) =>
    [false, true].flatMap((asymmetric) => blocks.map((blockSize) => ({ bits, blockSize, asymmetric }))));
  process.stdout.write(`relative RMS error, ${rows} × ${COLS} weights\n\n`);
  const label = (c: QuantScheme): string => `int${c.bits} b${c.blockSize}${c.asymmetric ? ' asym' : ''}`;
  process.stdout.write(`| weights | ${columns.map(label).join(' | ')} |\n|---|${columns.map(() => '---').join('|')}|\n`);
  for (const [name, source] of Object.entries(DISTRIBUTIONS)) {
    const next = source(20261127);
    const w = Float32Array.from({ length: rows * COLS }, next);
    const cells = columns.map((c) => `${(relativeRmsError(w, rows, c) * 100).toFixed(2)} %`);
    process.stdout.write(`| ${name} | ${cells.join(' | ')} |\n`);
  }
}

main();
