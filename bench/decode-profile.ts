/**
 * Where a decode step's time goes, by operator type: the export's single-token steps timed
 * plainly, then again under onnxruntime's per-node profiler, whose kernel times are summed
 * by op type over the decode runs (the prompt's run left out). Profiling itself slows the
 * small ops, so the shares are upper bounds for everything but MatMulNBits; the plain
 * timing is the real step.
 *
 *   node dist/bench/decode-profile.js <export> [-p 16] [-n 32] [--threads 2]
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../src/runtime/engine.js';
import { loadModel } from '../src/runtime/model-session.js';

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

interface Options {
  dir: string;
  prompt: number;
  steps: number;
  threads: number;
}

function options(): Options {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { p: { type: 'string', short: 'p', default: '16' }, n: { type: 'string', short: 'n', default: '32' }, threads: { type: 'string', default: '2' } },
  });
  if (positionals.length !== 1) throw new Error('usage: decode-profile <export> [-p 16] [-n 32] [--threads 2]');
  return { dir: positionals[0]!, prompt: Number(values.p), steps: Number(values.n), threads: Number(values.threads) };
}

/** Milliseconds per decode step after the prompt, with or without the profiler. */
async function decode(o: Options, profilePrefix?: string): Promise<{ ms: number; session: Engine['model']['session'] }> {
  const model = await loadModel(o.dir, { threads: o.threads, ...(profilePrefix !== undefined ? { profilePrefix } : {}) });
  const engine = new Engine(model, { ctxSize: o.prompt + o.steps, prefillChunk: o.prompt });
  await engine.feed(Array.from({ length: o.prompt }, (_, i) => 1000 + i));
  const started = performance.now();
  for (let i = 0; i < o.steps; i++) await engine.feed([2000 + i]);
  return { ms: (performance.now() - started) / o.steps, session: model.session };
}

function kernelTimeByOp(events: ProfileEvent[]): { perOp: Map<string, number>; runs: number; runMs: number } {
  const runs = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
  const from = runs[0]?.ts ?? Infinity;
  const perOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
    const op = e.args?.op_name ?? '?';
    perOp.set(op, (perOp.get(op) ?? 0) + e.dur / 1000 / runs.length);
  }
  return { perOp, runs: runs.length, runMs: runs.reduce((sum, r) => sum + r.dur, 0) / 1000 / runs.length };
}

async function main(): Promise<void> {
  const o = options();
  const plain = await decode(o);
  await plain.session.release();
  const dir = await mkdtemp(join(tmpdir(), 'gemma-profile-'));
  try {
    const profiled = await decode(o, join(dir, 'decode'));
    profiled.session.endProfiling();
    await profiled.session.release();
    const file = (await readdir(dir)).find((f) => f.endsWith('.json'));
    if (file === undefined) throw new Error('onnxruntime wrote no profile');
    const { perOp, runs, runMs } = kernelTimeByOp(JSON.parse(await readFile(join(dir, file), 'utf8')) as ProfileEvent[]);
    const kernels = [...perOp.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`${o.dir}: ${o.steps} decode steps after a ${o.prompt}-token prompt, ${o.threads} thread(s)\n`);
    process.stdout.write(`plain: ${plain.ms.toFixed(1)} ms per step · profiled: ${profiled.ms.toFixed(1)} ms per step, of which onnxruntime's run ${runMs.toFixed(1)} ms over ${runs} runs, kernels ${kernels.toFixed(1)} ms\n\n`);
    process.stdout.write('| op type | ms per step (profiled) | share of kernel time |\n|---|---|---|\n');
    for (const [op, ms] of [...perOp].sort((a, b) => b[1] - a[1])) {
      process.stdout.write(`| ${op} | ${ms.toFixed(2)} | ${((100 * ms) / kernels).toFixed(1)} % |\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
