import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runBenchTest, testName, timeToFirstToken, type BenchTest } from '../runtime/bench.js';
import { noticeContextFit } from './context-notice.js';
import { openWorkerEngine } from '../runtime/worker/remote-stage.js';
import { DATA_FILE } from '../export/manifest.js';
import { variantName } from '../quantize/precision.js';
import { GemmaError } from '../util/errors.js';
import { BENCH_OPTIONS } from './bench-options.js';
import { toCsv, toJson, toMarkdown, type BenchReport } from './bench-report.js';
import { MODEL_ARGUMENT } from './model-argument.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { interactive, spinner } from './progress.js';
import { cudaReadiness } from '../cuda/provider-status.js';
import { resolveModel } from './resolve-model.js';

type BenchOptions = OptionValues<typeof BENCH_OPTIONS>;

/** Every depth × (pp tests, then tg tests), checked against the context before anything runs. */
export function planTests(o: BenchOptions, ctxSize: number): BenchTest[] {
  const tests = o.depth.flatMap((depth) => [
    ...o.nPrompt.map((tokens): BenchTest => ({ kind: 'pp', tokens, depth })),
    ...o.nGen.map((tokens): BenchTest => ({ kind: 'tg', tokens, depth })),
  ]);
  for (const t of tests) {
    if (t.depth + t.tokens > ctxSize) {
      throw new GemmaError(`${testName(t)} needs ${t.depth + t.tokens} tokens of context and the context holds ${ctxSize} (--ctx-size)`);
    }
  }
  return tests;
}

async function bench(model: string, o: BenchOptions): Promise<void> {
  if (o.json && o.csv) throw new GemmaError('choose one of --json and --csv');
  const show = !o.json && !o.csv && process.stderr.isTTY === true;
  const { dir, ep } = await resolveModel(model, interactive(o.json || o.csv), o.ep, () => cudaReadiness());
  const started = performance.now();
  // As `gemma run` loads and runs it: each stage in its own worker thread.
  const engine = await openWorkerEngine(dir, { threads: o.threads, ep, decodeSteps: o.decodeSteps, ...(o.ctxSize !== undefined ? { ctxSize: o.ctxSize } : {}) });
  const loadMs = performance.now() - started;
  noticeContextFit(engine.options);
  try {
    const { ctxSize } = engine.options;
    const tests = planTests(o, ctxSize);
    const results = [];
    for (const t of tests) {
      const wait = spinner(show, `${testName(t)} × ${o.repetitions}`);
      results.push(await runBenchTest(engine, t, o.repetitions).finally(() => wait.stop()));
    }
    const ttftPrompt = Math.min(512, ctxSize);
    const ttftMs = await timeToFirstToken(engine, ttftPrompt);
    const files = [...engine.manifest.stages.map((s) => s.file), DATA_FILE];
    const sizes = await Promise.all(files.map((f) => stat(join(dir, f)).then((s) => s.size)));
    const w = engine.manifest.weights;
    const report: BenchReport = {
      model, source: engine.manifest.source.label, variant: variantName(w), precision: w.precision,
      blockSize: w.precision === 'fp32' ? null : w.blockSize, scheme: w.precision === 'fp32' ? null : w.asymmetric ? 'asymmetric' : 'symmetric', attention: w.attention, sizeBytes: sizes.reduce((a, b) => a + b, 0), ep,
      threads: o.threads === 0 ? 'auto' : o.threads, loadMs, ttftPrompt, ttftMs,
      peakRssBytes: process.resourceUsage().maxRSS * 1024, tests: results,
    };
    process.stdout.write(o.json ? `${JSON.stringify(toJson(report))}\n` : o.csv ? toCsv(report) : toMarkdown(report));
  } finally {
    await engine.close();
  }
}

export function benchCommand(): Command {
  return commandWithArgument('bench', 'prompt-processing (ppN) and generation (tgN) throughput, as llama-bench measures it', MODEL_ARGUMENT, BENCH_OPTIONS, bench);
}
