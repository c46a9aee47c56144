/**
 * Start-up of `gemma run` on existing exports: time to the first streamed byte of
 * `-p hi` and the peak RSS of a whole `-p hi -n 128`, for one or more builds of gemma
 * (their bin/gemma), run in alternating rounds so that a machine's slow phases hit every
 * build alike. Prints one line per build and export: medians over the rounds, and each round.
 *
 *   node dist/bench/startup.js <export>... [--gemma bin/gemma,/other/checkout/bin/gemma] [-r 3] [--threads 2] [--ep cpu]
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { gnuTime, runMeasured } from './child-rss.js';
import { timeToFirstByte } from './first-byte.js';

interface Sample {
  firstByte: number;
  peakRss: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function sample(gemma: string, dir: string, threads: string, ep: string): Promise<Sample> {
  const firstByte = await timeToFirstByte(gemma, dir, threads, ep);
  const run = await runMeasured([gemma, 'run', dir, '-p', 'hi', '-n', '128', '--threads', threads, '--ep', ep], gnuTime(), join(tmpdir(), `gemma-startup-${process.pid}.txt`));
  if (run.code !== 0) throw new Error(`${gemma} run ${dir} exited ${run.code}`);
  return { firstByte, peakRss: run.peakRssBytes };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      gemma: { type: 'string', default: join(PACKAGE_ROOT, 'bin', 'gemma') },
      r: { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
      ep: { type: 'string', default: 'cpu' },
    },
  });
  const builds = values.gemma.split(',').map((b) => resolve(b));
  const exports = positionals.map((d) => resolve(d));
  const samples = new Map<string, Sample[]>();
  for (const dir of exports) for (const b of builds) await timeToFirstByte(b, dir, values.threads, values.ep);
  for (let round = 0; round < Number(values.r); round++) {
    for (const dir of exports) {
      for (const b of builds) {
        const key = `${b}\t${dir}`;
        samples.set(key, [...(samples.get(key) ?? []), await sample(b, dir, values.threads, values.ep)]);
      }
    }
  }
  process.stdout.write('| build | export | data file GB | first byte s (median) | rounds | peak RSS GB (median) | × data file |\n|---|---|---|---|---|---|---|\n');
  for (const [key, runs] of samples) {
    const [b, dir] = key.split('\t') as [string, string];
    const file = (await stat(join(dir, 'model.onnx.data'))).size;
    const rss = median(runs.map((r) => r.peakRss));
    const rounds = runs.map((r) => r.firstByte.toFixed(2)).join(' / ');
    process.stdout.write(`| ${b} | ${dir} | ${(file / 1e9).toFixed(2)} | ${median(runs.map((r) => r.firstByte)).toFixed(2)} | ${rounds} | ${(rss / 1e9).toFixed(2)} | ${(rss / file).toFixed(2)} |\n`);
  }
}

await main();
