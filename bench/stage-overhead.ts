/**
 * What cutting an export into stages, and running the stages in worker threads, costs a
 * decode step: each export's engine in this thread and in workers (as `gemma run` and
 * `gemma bench` run it), all loaded at once and timed in interleaved bursts of greedy
 * single-token steps, so that a machine's slow phases hit every variant alike. Prints the
 * median milliseconds per step of each.
 *
 *   node dist/bench/stage-overhead.js <export>... [-r 8] [-n 24] [--threads 2]
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { Engine } from '../src/runtime/engine.js';
import { readExport } from '../src/runtime/model-session.js';
import { loadEngine } from '../src/runtime/runtime.js';
import { argmax } from '../src/runtime/sampler.js';
import { openWorkerEngine } from '../src/runtime/worker/remote-stage.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function burst(engine: Engine, steps: number): Promise<number> {
  engine.rollback(4);
  let id = 1234;
  const started = performance.now();
  for (let i = 0; i < steps; i++) id = argmax((await engine.feed([id]))[0]!);
  return (performance.now() - started) / steps;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { r: { type: 'string', default: '8' }, n: { type: 'string', default: '24' }, threads: { type: 'string', default: '2' } },
  });
  const options = { threads: Number(values.threads), ctxSize: 4096 };
  const engines = new Map<string, Engine>();
  for (const dir of positionals) {
    const label = `${basename(dir)} (${(await readExport(dir)).manifest.stages.length} stages)`;
    engines.set(`${label}, this thread`, await loadEngine(dir, options));
    engines.set(`${label}, workers`, await openWorkerEngine(dir, options));
  }
  const times = new Map([...engines.keys()].map((k) => [k, [] as number[]]));
  for (const e of engines.values()) await e.feed([2, 1000, 1001, 1002]);
  for (let round = 0; round < Number(values.r); round++) {
    for (const [name, e] of engines) times.get(name)!.push(await burst(e, Number(values.n)));
  }
  process.stdout.write('| engine | ms per decode step (median) | rounds |\n|---|---|---|\n');
  for (const [name, ms] of times) process.stdout.write(`| ${name} | ${median(ms).toFixed(2)} | ${ms.map((m) => m.toFixed(1)).join(' ')} |\n`);
  await Promise.all([...engines.values()].map((e) => e.close()));
}

await main();
