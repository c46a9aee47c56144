/**
 * The decode loop against one graph run per token, on one one-graph export (gemma quantize
 * --stages 1): an engine of model.onnx decodes greedily one step per run, and one of
 * decode-loop.onnx in runs of K steps, from the same cache, in interleaved rounds so that a shared machine's
 * slow phases hit every variant alike. Checks that every variant decodes the same tokens,
 * then prints the median milliseconds per token of each, at each depth: wall time, and the
 * process's CPU time (all threads; onnxruntime's do not spin at 2 threads), which other
 * processes on a shared machine disturb less.
 *
 *   node dist/bench/decode-loop.js <export> [-k 4,16,32] [-d 0,1024] [-n 32] [-r 5] [--threads 2]
 */
import { parseArgs } from 'node:util';
import type { Engine } from '../src/runtime/engine.js';
import { loadEngine } from '../src/runtime/runtime.js';
import { argmax, GREEDY } from '../src/runtime/sampler.js';
import { benchTokens } from '../src/runtime/bench.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Burst {
  ids: number[];
  /** Wall and CPU milliseconds per token. */
  ms: number;
  cpuMs: number;
}

/** Decodes `count` tokens after the cache's `depth` tokens, `steps` per run (1: the step graph). */
async function burst(engine: Engine, depth: number, count: number, steps: number): Promise<Burst> {
  engine.rollback(depth);
  const ids = [benchTokens(1, engine.spec.config.vocab_size, 3)[0]!];
  const started = performance.now();
  const cpu = process.cpuUsage();
  while (ids.length <= count) {
    const k = Math.min(steps, count + 1 - ids.length);
    if (steps === 1) ids.push(argmax((await engine.feed([ids.at(-1)!]))[0]!));
    else ids.push(...(await engine.decode(ids.at(-1)!, k, { sampling: GREEDY, stopIds: [], draws: new Float64Array(k) })));
  }
  const used = process.cpuUsage(cpu);
  return { ids, ms: (performance.now() - started) / count, cpuMs: (used.user + used.system) / 1000 / count };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      k: { type: 'string', default: '4,16,32' }, d: { type: 'string', default: '0,1024' },
      n: { type: 'string', default: '32' }, r: { type: 'string', default: '5' }, threads: { type: 'string', default: '2' },
    },
  });
  const variants = [1, ...values.k.split(',').map(Number)];
  const depths = values.d.split(',').map(Number);
  const count = Number(values.n);
  const options = { threads: Number(values.threads), ctxSize: Math.max(...depths) + count + 1 };
  const engines = [await loadEngine(positionals[0]!, options), await loadEngine(positionals[0]!, { ...options, decodeSteps: Math.max(...variants) })] as const;
  const engineFor = (k: number): Engine => engines[k === 1 ? 0 : 1];
  process.stdout.write('| depth | steps per run | ms per token (median) | CPU ms per token (median) | wall ms, rounds |\n|---|---|---|---|---|\n');
  for (const depth of depths) {
    for (const e of engines) {
      e.rollback(0);
      await e.feed(benchTokens(depth, e.spec.config.vocab_size, 11));
    }
    const times = new Map(variants.map((k) => [k, [] as Burst[]]));
    const tokens = new Map<number, string>();
    for (let round = 0; round <= Number(values.r); round++) {
      for (const k of variants) {
        const b = await burst(engineFor(k), depth, count, k);
        // Round 0 warms every variant up and is not timed.
        if (round > 0) times.get(k)!.push(b);
        tokens.set(k, b.ids.join());
      }
    }
    for (const k of variants) if (tokens.get(k) !== tokens.get(1)) throw new Error(`${k} steps per run decoded other tokens than one step per run`);
    for (const [k, bursts] of times) {
      const [wall, cpu] = [bursts.map((b) => b.ms), bursts.map((b) => b.cpuMs)];
      process.stdout.write(`| ${depth} | ${k === 1 ? '1 (model.onnx)' : k} | ${median(wall).toFixed(2)} | ${median(cpu).toFixed(2)} | ${wall.map((m) => m.toFixed(1)).join(' ')} |\n`);
    }
  }
  await Promise.all(engines.map((e) => e.close()));
}

await main();
