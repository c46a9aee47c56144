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
import { loadEngine } from '../src/runtime/runtime.js';

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

/** Milliseconds per decode step after the prompt, with or without the profiler (written when the engine closes). */
async function decode(o: Options, profilePrefix?: string): Promise<number> {
  const engine = await loadEngine(o.dir, { threads: o.threads, ctxSize: o.prompt + o.steps, prefillChunk: o.prompt, ...(profilePrefix !== undefined ? { profilePrefix } : {}) });
  try {
    await engine.feed(Array.from({ length: o.prompt }, (_, i) => 1000 + i));
    const started = performance.now();
    for (let i = 0; i < o.steps; i++) await engine.feed([2000 + i]);
    return (performance.now() - started) / o.steps;
  } finally {
    await engine.close();
  }
}

/** Kernel time per decode run by op type, summed over the stages' profiles (each stage runs once per step). */
function kernelTimeByOp(profiles: ProfileEvent[][]): { perOp: Map<string, number>; runs: number; runMs: number } {
  const perOp = new Map<string, number>();
  let runMs = 0;
  let runs = 0;
  for (const events of profiles) {
    const stageRuns = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
    const from = stageRuns[0]?.ts ?? Infinity;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
      const op = e.args?.op_name ?? '?';
      perOp.set(op, (perOp.get(op) ?? 0) + e.dur / 1000 / stageRuns.length);
    }
    runMs += stageRuns.reduce((sum, r) => sum + r.dur, 0) / 1000 / stageRuns.length;
    runs = stageRuns.length;
  }
  return { perOp, runs, runMs };
}

async function main(): Promise<void> {
  const o = options();
  const plain = await decode(o);
  const dir = await mkdtemp(join(tmpdir(), 'gemma-profile-'));
  try {
    const profiled = await decode(o, join(dir, 'decode'));
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    if (files.length === 0) throw new Error('onnxruntime wrote no profile');
    const profiles = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as ProfileEvent[]));
    const { perOp, runs, runMs } = kernelTimeByOp(profiles);
    const kernels = [...perOp.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`${o.dir}: ${o.steps} decode steps after a ${o.prompt}-token prompt, ${o.threads} thread(s)\n`);
    process.stdout.write(`plain: ${plain.toFixed(1)} ms per step · profiled: ${profiled.toFixed(1)} ms per step, of which onnxruntime's run ${runMs.toFixed(1)} ms over ${runs} runs, kernels ${kernels.toFixed(1)} ms\n\n`);
    process.stdout.write('| op type | ms per step (profiled) | share of kernel time |\n|---|---|---|\n');
    for (const [op, ms] of [...perOp].sort((a, b) => b[1] - a[1])) {
      process.stdout.write(`| ${op} | ${ms.toFixed(2)} | ${((100 * ms) / kernels).toFixed(1)} % |\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
