/**
 * Conversion memory benchmark: generates Gemma 2 2B- and 9B-shaped random BF16
 * checkpoints (never committed), converts each with `gemma quantize` in a child
 * process and prints the child's peak RSS, wall time and output size as markdown
 * table rows against the limits (2B: 2.5 GB, 9B: 4 GB; GB = 10^9 bytes).
 *
 *   node dist/bench/convert-memory.js [--shape 2b,9b] [--precision int4,int8] [--dir bench/out] [--keep]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
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

interface ChildRun {
  code: number | null;
  seconds: number;
  peakRssBytes: number;
}

/** GNU time (not a shell builtin or busybox) with -v, which reports the child's maximum resident set size. */
function gnuTime(): string | undefined {
  const path = '/usr/bin/time';
  if (!existsSync(path)) return undefined;
  return spawnSync(path, ['-v', 'true'], { stdio: 'ignore' }).status === 0 ? path : undefined;
}

async function runWithGnuTime(time: string, args: string[], report: string): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(time, ['-v', '-o', report, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  const seconds = (performance.now() - started) / 1000;
  const text = await readFile(report, 'utf8').catch(() => '');
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1];
  return { code, seconds, peakRssBytes: kb === undefined ? NaN : Number(kb) * 1024 };
}

async function readHwm(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** Fallback: polls the child's VmHWM (its own peak RSS) every 100 ms; misses at most the last interval. */
async function runWithPolling(args: string[]): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const pid = child.pid ?? 0;
  let peak = 0;
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      peak = Math.max(peak, await readHwm(pid));
    });
  }, 100);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(timer);
  await polling;
  return { code, seconds: (performance.now() - started) / 1000, peakRssBytes: peak };
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
  const args = [join(PACKAGE_ROOT, 'bin', 'gemma'), 'quantize', ckpt, '--out', out, '--precision', precision, '--json'];
  return time === undefined ? runWithPolling(args) : runWithGnuTime(time, args, `${out}.time.txt`);
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
    await rm(`${out}.time.txt`, { force: true });
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
