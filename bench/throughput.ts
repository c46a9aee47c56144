/**
 * Throughput on a Gemma 2 2B-shaped random checkpoint (generated, never committed):
 * converts it to each precision, runs `gemma bench` (pp512, tg128 at depth 0 and 4096)
 * times `gemma run <export> -p hi` to the first streamed byte (warm page cache) and takes
 * the peak RSS of a whole `gemma run <export> -p hi -n 128` (load and decoding).
 *
 * With --decode-steps 1,32 the bench and the first byte are measured for each value on the
 * same export (values above 1 need one graph: the export is made with --stages 1). With
 * --attention ops,gqa each precision is exported with each attention kernel, in that order.
 *
 *   node dist/bench/throughput.js [--shape 2b] [--precision int4,int8] [--attention ops,gqa] [--block-size 128] [--ep cpu|cuda] [-r 3] [--depth 0,4096] [--threads 0] [--decode-steps 1] [--dir bench/out] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { gnuTime, runMeasured } from './child-rss.js';
import { timeToFirstByte } from './first-byte.js';
import { ensureCheckpoint, prepareTokenizer, SHAPES, type Shape } from './shaped-checkpoint.js';

const GEMMA = join(PACKAGE_ROOT, 'bin', 'gemma');

interface Options {
  shape: Shape;
  precisions: string[];
  attentions: string[];
  /** `gemma quantize --block-size`; undefined keeps each precision's default. */
  blockSize: string | undefined;
  ep: string;
  repetitions: string;
  depths: string;
  threads: string;
  decodeSteps: string[];
  dir: string;
  keep: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      shape: { type: 'string', default: '2b' },
      precision: { type: 'string', default: 'int4,int8' },
      attention: { type: 'string', default: 'ops' },
      'block-size': { type: 'string' },
      ep: { type: 'string', default: 'cpu' },
      r: { type: 'string', default: '3' },
      depth: { type: 'string', default: '0,4096' },
      threads: { type: 'string', default: '0' },
      'decode-steps': { type: 'string', default: '1' },
      dir: { type: 'string', default: join(PACKAGE_ROOT, 'bench', 'out') },
      keep: { type: 'boolean', default: false },
    },
  });
  if (!(values.shape in SHAPES)) throw new Error(`unknown shape ${values.shape}`);
  return { shape: values.shape as Shape, precisions: values.precision.split(','), attentions: values.attention.split(','), blockSize: values['block-size'], ep: values.ep, repetitions: values.r, depths: values.depth, threads: values.threads, decodeSteps: values['decode-steps'].split(','), dir: resolve(values.dir), keep: values.keep };
}

function gemma(args: string[]): string {
  const r = spawnSync(process.execPath, [GEMMA, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`gemma ${args.join(' ')} exited ${r.status}`);
  return r.stdout;
}

async function measure(ckpt: string, precision: string, attention: string, o: Options): Promise<void> {
  const block = o.blockSize === undefined ? [] : ['--block-size', o.blockSize];
  const out = join(o.dir, `gemma-2-${o.shape}-${precision}${o.blockSize === undefined ? '' : `-b${o.blockSize}`}-${attention}-${o.ep}`);
  const stages = o.decodeSteps.some((n) => n !== '1') ? ['--stages', '1'] : [];
  if (!existsSync(join(out, 'gemma.json'))) gemma(['quantize', ckpt, '--out', out, '--precision', precision, '--attention', attention, ...block, ...stages, '--ep', o.ep, '--json']);
  const file = (await stat(join(out, 'model.onnx.data'))).size;
  for (const steps of o.decodeSteps) {
    const loop = steps === '1' ? [] : ['--decode-steps', steps];
    const bench = gemma(['bench', out, '-p', '512', '-n', '128', '-r', o.repetitions, '-d', o.depths, '--threads', o.threads, '--ep', o.ep, ...loop]);
    const ttfb = await medianFirstByte(out, o, loop);
    const run = await runMeasured([GEMMA, 'run', out, '-p', 'hi', '-n', '128', '--threads', o.threads, '--ep', o.ep, ...loop], gnuTime(), `${out}.time.txt`);
    if (run.code !== 0) throw new Error(`gemma run exited ${run.code}`);
    const flags = loop.length === 0 ? '' : ` ${loop.join(' ')}`;
    process.stdout.write(`\n### ${o.shape} ${precision} ${attention} attention ${o.ep}${flags}\n\n${bench}\n\`gemma run <export> -p hi${flags}\` to the first streamed byte (warm page cache, median of 3): ${ttfb.toFixed(2)} s\n`);
    process.stdout.write(`peak RSS of \`gemma run <export> -p hi -n 128${flags}\`: ${(run.peakRssBytes / 1e9).toFixed(2)} GB, ${(run.peakRssBytes / file).toFixed(2)}× the ${(file / 1e9).toFixed(2)} GB data file\n`);
  }
  if (!o.keep) await rm(out, { recursive: true, force: true });
}

/** `gemma run <export> -p hi` to the first byte: one warm-up, then the median of 3. */
async function medianFirstByte(out: string, o: Options, extra: string[]): Promise<number> {
  const firstByte = (): Promise<number> => timeToFirstByte(GEMMA, out, o.threads, o.ep, extra);
  await firstByte();
  return [await firstByte(), await firstByte(), await firstByte()].sort((a, b) => a - b)[1]!;
}

async function main(): Promise<void> {
  const o = options();
  await mkdir(o.dir, { recursive: true });
  const tokenizerDir = await prepareTokenizer(o.dir);
  const ckpt = await ensureCheckpoint(o.shape, o.dir, tokenizerDir);
  for (const precision of o.precisions) for (const attention of o.attentions) await measure(ckpt, precision, attention, o);
  if (!o.keep) await rm(ckpt, { recursive: true, force: true });
}

await main();
