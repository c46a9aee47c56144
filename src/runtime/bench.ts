import type { Engine } from './engine.js';
import { argmax, GREEDY } from './sampler.js';

export interface BenchTest {
  kind: 'pp' | 'tg';
  tokens: number;
  depth: number;
}

export interface BenchSample {
  /** Tokens in the cache when the timed part started. */
  startPosition: number;
  tokens: number;
  ms: number;
}

export interface BenchResult extends BenchTest {
  name: string;
  samples: BenchSample[];
  avgTps: number;
  stddevTps: number;
}

export const testName = (t: BenchTest): string => `${t.kind}${t.tokens}${t.depth > 0 ? ` @ d${t.depth}` : ''}`;

/** Deterministic token ids spread over the vocabulary (the content does not change the work). */
export function benchTokens(count: number, vocab: number, seed: number): number[] {
  return Array.from({ length: count }, (_, i) => 1000 + ((i * 7919 + seed * 104729) % Math.max(1, vocab - 1000)));
}

function stats(samples: BenchSample[]): { avgTps: number; stddevTps: number } {
  const tps = samples.map((s) => (s.tokens * 1000) / s.ms);
  const avg = tps.reduce((a, b) => a + b, 0) / tps.length;
  const variance = tps.length > 1 ? tps.reduce((a, b) => a + (b - avg) ** 2, 0) / (tps.length - 1) : 0;
  return { avgTps: avg, stddevTps: Math.sqrt(variance) };
}

/** Feeds `count` tokens from `id` on, each the argmax after the one before: one per run, or in runs of the decode loop's steps. */
async function decodeGreedy(engine: Engine, id: number, count: number): Promise<void> {
  const steps = engine.options.decodeSteps;
  for (let left = count; left > 0; ) {
    if (steps === 1) {
      id = argmax((await engine.feed([id]))[0]!);
      left--;
    } else {
      const sampled = await engine.decode(id, Math.min(left, steps), { sampling: GREEDY, draws: new Float64Array(steps), stopIds: [] });
      id = sampled.at(-1)!;
      left -= sampled.length;
    }
  }
}

/** One timed run: ppN prefills N tokens; tgN decodes exactly N tokens, one per graph run or in runs of --decode-steps (end tokens do not stop it). */
async function runOnce(engine: Engine, t: BenchTest, depthTokens: number[]): Promise<BenchSample> {
  if (engine.tokens.length !== t.depth || engine.tokens.some((id, i) => id !== depthTokens[i])) {
    engine.rollback(0);
    if (t.depth > 0) await engine.feed(depthTokens);
  }
  const vocab = engine.spec.config.vocab_size;
  const startPosition = engine.tokens.length;
  const started = performance.now();
  if (t.kind === 'pp') {
    await engine.feed(benchTokens(t.tokens, vocab, t.depth + 1));
  } else {
    await decodeGreedy(engine, benchTokens(1, vocab, 3)[0]!, t.tokens);
  }
  const sample = { startPosition, tokens: engine.tokens.length - startPosition, ms: performance.now() - started };
  engine.rollback(t.depth);
  return sample;
}

/** Runs a test once to warm up, then `repetitions` timed times, each from a cache of exactly `depth` tokens. */
export async function runBenchTest(engine: Engine, t: BenchTest, repetitions: number): Promise<BenchResult> {
  const depthTokens = benchTokens(t.depth, engine.spec.config.vocab_size, 11);
  await runOnce(engine, t, depthTokens);
  const samples: BenchSample[] = [];
  for (let r = 0; r < repetitions; r++) samples.push(await runOnce(engine, t, depthTokens));
  return { ...t, name: testName(t), samples, ...stats(samples) };
}

/** Time to first token: prefill `prompt` tokens from an empty cache and pick the first generated one. */
export async function timeToFirstToken(engine: Engine, prompt: number): Promise<number> {
  engine.rollback(0);
  const started = performance.now();
  const logits = await engine.feed(benchTokens(prompt, engine.spec.config.vocab_size, 5));
  argmax(logits[0]!);
  const ms = performance.now() - started;
  engine.rollback(0);
  return ms;
}
