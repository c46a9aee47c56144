/**
 * Start-up of `gemma run` on existing exports: time to the first streamed byte of
 * `-p hi`, the peak RSS of a whole `-p hi -n 128` (load included), and the most RSS
 * sampled while it decodes (after the first byte), for one or more builds of gemma (their
 * bin/gemma), run in alternating rounds so that a machine's slow phases hit every build
 * alike. Each build runs every export, or with --paired the export at its own position (a
 * build whose graph contract differs needs its own exports). Prints one line per build and
 * export: medians over the rounds, and each round's first byte.
 *
 *   node dist/bench/startup.js <export>... [--gemma bin/gemma,/other/checkout/bin/gemma] [--paired] [-r 3] [--threads 2] [--ep cpu]
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { gnuTime, runMeasured } from './child-rss.js';
import { firstByteRun, timeToFirstByte } from './first-byte.js';

interface Sample {
  firstByte: number;
  peakRss: number;
  decodingRss: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function sample(gemma: string, dir: string, threads: string, ep: string): Promise<Sample> {
  const { firstByte, decodingRssBytes } = await firstByteRun(gemma, dir, threads, ep, 128);
  const run = await runMeasured([gemma, 'run', dir, '-p', 'hi', '-n', '128', '--threads', threads, '--ep', ep], gnuTime(), join(tmpdir(), `gemma-startup-${process.pid}.txt`));
  if (run.code !== 0) throw new Error(`${gemma} run ${dir} exited ${run.code}`);
  return { firstByte, peakRss: run.peakRssBytes, decodingRss: decodingRssBytes };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      gemma: { type: 'string', default: join(PACKAGE_ROOT, 'bin', 'gemma') },
      r: { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
      ep: { type: 'string', default: 'cpu' },
      paired: { type: 'boolean', default: false },
    },
  });
  const builds = values.gemma.split(',').map((b) => resolve(b));
  const exports = positionals.map((d) => resolve(d));
  if (values.paired && builds.length !== exports.length) throw new Error('--paired needs one export per build');
  const runs: [string, string][] = values.paired ? builds.map((b, i) => [b, exports[i]!]) : exports.flatMap((dir) => builds.map((b): [string, string] => [b, dir]));
  const samples = new Map<string, Sample[]>();
  for (const [b, dir] of runs) await timeToFirstByte(b, dir, values.threads, values.ep);
  for (let round = 0; round < Number(values.r); round++) {
    for (const [b, dir] of runs) {
      const key = `${b}\t${dir}`;
      samples.set(key, [...(samples.get(key) ?? []), await sample(b, dir, values.threads, values.ep)]);
    }
  }
  const gb = (bytes: number): string => (bytes / 1e9).toFixed(2);
  process.stdout.write('| build | export | data file GB | first byte s (median) | rounds | peak RSS GB, whole run (× file) | RSS while decoding GB (× file) |\n|---|---|---|---|---|---|---|\n');
  for (const [key, taken] of samples) {
    const [b, dir] = key.split('\t') as [string, string];
    const file = (await stat(join(dir, 'model.onnx.data'))).size;
    const peak = median(taken.map((r) => r.peakRss));
    const decoding = median(taken.map((r) => r.decodingRss));
    const rounds = taken.map((r) => r.firstByte.toFixed(2)).join(' / ');
    process.stdout.write(`| ${b} | ${dir} | ${gb(file)} | ${median(taken.map((r) => r.firstByte)).toFixed(2)} | ${rounds} | ${gb(peak)} (${(peak / file).toFixed(2)}×) | ${gb(decoding)} (${(decoding / file).toFixed(2)}×) |\n`);
  }
}

await main();
