/**
 * Converts a shaped random model (bench/shaped-checkpoint.ts, published configs) without writing its checkpoint:
 * seeded random weights are generated as the converter reads them (src/checkpoint/random-source.ts), so a 27B
 * shape needs disk for its export only (its BF16 checkpoint is 54 GB). The weights equal those of the checkpoint
 * convert-memory.ts writes for the same seed. Refuses up front when the disk lacks room for the export; prints
 * wall time, peak RSS (this process's getrusage maxrss) and output size. GB = 10^9 bytes.
 *
 *   node dist/bench/convert-shaped.js --out DIR [--shape 27b] [--precision int4] [--attention ops|gqa] [--seed 42]
 */
import { rm, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { deriveSpec, type Gemma2Config } from '../src/checkpoint/config.js';
import { openRandomSource } from '../src/checkpoint/random-source.js';
import { expectedTensors } from '../src/checkpoint/tensor-names.js';
import { exportCheckpoint } from '../src/export/export.js';
import { ATTENTION_KERNELS, defaultAccuracyLevel, DEFAULT_ATTENTION, defaultLayout, type AttentionKernel, type WeightFormat } from '../src/quantize/precision.js';
import { makeDirs } from '../src/util/make-dirs.js';
import { GB, prepareTokenizer, shapedOptions, SHAPES, treeBytes, type Shape } from './shaped-checkpoint.js';

const QUANTIZED = ['int4', 'int8'] as const;
type Quantized = (typeof QUANTIZED)[number];

function parseOptions(argv: string[]): { shape: Shape; precision: Quantized; attention: AttentionKernel; out: string; seed: number } {
  const { values } = parseArgs({
    args: argv,
    options: {
      shape: { type: 'string', default: '27b' },
      precision: { type: 'string', default: 'int4' },
      attention: { type: 'string', default: DEFAULT_ATTENTION },
      out: { type: 'string' },
      seed: { type: 'string', default: '42' },
    },
  });
  if (!Object.hasOwn(SHAPES, values.shape)) throw new Error(`unknown shape ${values.shape}; choose from ${Object.keys(SHAPES).join(', ')}`);
  if (!(QUANTIZED as readonly string[]).includes(values.precision)) throw new Error(`unknown precision ${values.precision}; choose from ${QUANTIZED.join(', ')}`);
  if (!(ATTENTION_KERNELS as readonly string[]).includes(values.attention)) throw new Error(`unknown attention kernel ${values.attention}; choose from ${ATTENTION_KERNELS.join(', ')}`);
  if (values.out === undefined) throw new Error('--out DIR is required: the folder the export is written into');
  return { shape: values.shape as Shape, precision: values.precision as Quantized, attention: values.attention as AttentionKernel, out: resolve(values.out), seed: Number(values.seed) };
}

/** The export's size from the format: codes, one scale (fp32 on the CPU) and, asymmetric, one zero point per block. */
function exportBytes(config: Gemma2Config, format: WeightFormat): number {
  let weights = 0;
  for (const [, shape] of expectedTensors(deriveSpec(config, []))) weights += shape.reduce((a, b) => a * b, 1);
  const bits = format.precision === 'int4' ? 4 : 8;
  const perBlock = 4 + (format.asymmetric ? bits / 8 : 0);
  return weights * (bits / 8 + perBlock / format.blockSize);
}

/** Free bytes on the disk that will hold `out` (its nearest existing parent). */
async function freeBytes(out: string): Promise<number> {
  for (let dir = out; ; dir = dirname(dir)) {
    const info = await statfs(dir).catch(() => undefined);
    if (info !== undefined) return info.bavail * info.bsize;
    if (dir === dirname(dir)) throw new Error(`cannot read the free space of ${out}`);
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const { config } = SHAPES[o.shape];
  const format: WeightFormat = { precision: o.precision, ...defaultLayout(o.precision, 'cpu'), accuracyLevel: defaultAccuracyLevel('cpu'), keepEmbeddings: false, ep: 'cpu', attention: o.attention };
  const needed = exportBytes(config, format);
  const free = await freeBytes(o.out);
  if (free < needed) throw new Error(`${o.out}: the ${o.shape} ${o.precision} export needs about ${(needed / GB).toFixed(1)} GB, the disk has ${(free / GB).toFixed(1)} GB free`);
  await makeDirs(dirname(o.out));
  const tokenizerDir = await prepareTokenizer(dirname(o.out));
  const sourceDir = `${o.out}.source`;
  const source = await openRandomSource(sourceDir, shapedOptions(o.shape, tokenizerDir, o.seed));
  const result = await exportCheckpoint(source, { outDir: o.out, format, label: `generated ${o.shape} seed ${o.seed}` });
  await rm(sourceDir, { recursive: true, force: true });
  await rm(tokenizerDir, { recursive: true, force: true });
  const peakGb = (process.resourceUsage().maxRSS * 1024) / GB;
  const { limitGb } = SHAPES[o.shape];
  // The columns of docs/benchmarks.md's conversion table; no checkpoint was read.
  const cells = [o.shape, `${o.precision} (generated weights)`, 'none', ((await treeBytes(o.out)) / GB).toFixed(2), result.seconds.toFixed(1), '-', peakGb.toFixed(2), limitGb.toFixed(1), peakGb <= limitGb ? 'pass' : 'FAIL', new Date().toISOString().slice(0, 10)];
  process.stdout.write(`| ${cells.join(' | ')} |\n`);
}

await main().catch((err: unknown) => {
  process.stderr.write(`convert-shaped: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
