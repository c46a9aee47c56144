/**
 * Conversion memory benchmark: generates Gemma 2 2B- and 9B-shaped random BF16
 * checkpoints (never committed), converts each with `gemma quantize` in a child
 * process and prints the child's peak RSS, wall time and output size as markdown
 * table rows against the limits (2B: 2.5 GB, 9B: 4 GB; GB = 10^9 bytes).
 *
 *   node dist/bench/convert-memory.js [--shape 2b,9b] [--precision int4,int8] [--dir bench/out] [--keep]
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { gnuTime, runMeasured, type ChildRun } from './child-rss.js';
import { ensureCheckpoint, GB, prepareTokenizer, SHAPES, treeBytes, type Shape } from './shaped-checkpoint.js';

type Precision = 'int4' | 'int8' | 'fp32';

const PRECISIONS: readonly Precision[] = ['int4', 'int8', 'fp32'];

interface BenchOptions {
  shapes: Shape[];
  precisions: Precision[];
  dir: string;
  keep: boolean;
}

function listOf<T extends string>(values: string[] | undefined, allowed: readonly T[], fallback: T, what: string): T[] {
  const items = (values ?? [fallback]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  const bad = items.filter((v) => !(allowed as readonly string[]).includes(v));
  if (bad.length > 0) throw new Error(`unknown ${what} ${bad.join(', ')}; choose from ${allowed.join(', ')}`);
  return [...new Set(items as T[])];
}

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      shape: { type: 'string', multiple: true },
      precision: { type: 'string', multiple: true },
      dir: { type: 'string', default: join(PACKAGE_ROOT, 'bench', 'out') },
      keep: { type: 'boolean', default: false },
    },
  });
  return {
    shapes: listOf(values.shape, Object.keys(SHAPES) as Shape[], '2b', 'shape'),
    precisions: listOf(values.precision, PRECISIONS, 'int4', 'precision'),
    dir: resolve(values.dir),
    keep: values.keep,
  };
}

interface RowInput {
  shape: Shape;
  precision: Precision;
  checkpointBytes: number;
  outputBytes: number;
  run: ChildRun;
}

function tableRow({ shape, precision, checkpointBytes, outputBytes, run }: RowInput): string {
  const limit = SHAPES[shape].limitGb;
  const peakGb = run.peakRssBytes / GB;
  const verdict = run.code !== 0 ? `FAIL (exit ${run.code})` : peakGb <= limit ? 'pass' : 'FAIL';
  const cells = [
    shape, precision, (checkpointBytes / GB).toFixed(2), (outputBytes / GB).toFixed(2), run.seconds.toFixed(1),
    (run.seconds / (checkpointBytes / GB)).toFixed(1), peakGb.toFixed(2), limit.toFixed(1), verdict,
  ];
  return `| ${cells.join(' | ')} |\n`;
}

async function convert(ckpt: string, out: string, precision: Precision, time: string | undefined): Promise<ChildRun> {
  await rm(out, { recursive: true, force: true });
  return runMeasured([join(PACKAGE_ROOT, 'bin', 'gemma'), 'quantize', ckpt, '--out', out, '--precision', precision, '--json'], time, `${out}.time.txt`);
}

async function benchShape(shape: Shape, o: BenchOptions, tokenizerDir: string, time: string | undefined): Promise<boolean> {
  const ckpt = await ensureCheckpoint(shape, o.dir, tokenizerDir);
  const checkpointBytes = await treeBytes(ckpt);
  let ok = true;
  for (const precision of o.precisions) {
    const out = join(o.dir, `gemma-2-${shape}-${precision}-onnx`);
    const run = await convert(ckpt, out, precision, time);
    const outputBytes = existsSync(out) ? await treeBytes(out) : 0;
    const row = { shape, precision, checkpointBytes, outputBytes, run };
    process.stdout.write(tableRow(row));
    ok &&= run.code === 0 && run.peakRssBytes / GB <= SHAPES[shape].limitGb;
    if (!o.keep) await rm(out, { recursive: true, force: true });
  }
  if (!o.keep) await rm(ckpt, { recursive: true, force: true });
  return ok;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  await mkdir(o.dir, { recursive: true });
  const tokenizerDir = await prepareTokenizer(o.dir);
  const time = gnuTime();
  process.stdout.write(`peak RSS via ${time === undefined ? '/proc/<pid>/status VmHWM polled every 100 ms' : '/usr/bin/time -v'}; GB = 10^9 bytes\n`);
  process.stdout.write('| shape | precision | checkpoint GB | output GB | seconds | s/GB (checkpoint) | peak RSS GB | limit GB | result |\n');
  process.stdout.write('|---|---|---|---|---|---|---|---|---|\n');
  let ok = true;
  for (const shape of o.shapes) ok = (await benchShape(shape, o, tokenizerDir, time)) && ok;
  if (!o.keep) await rm(tokenizerDir, { recursive: true, force: true });
  process.exitCode = ok ? 0 : 1;
}

await main();
