import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { ATTENTION_KERNELS, type WeightFormat } from '../../../src/quantize/precision.js';
import type { Engine } from '../../../src/runtime/engine.js';
import { generate, type GenerateOptions, type GenerateResult } from '../../../src/runtime/generate.js';
import type { LayerCache } from '../../../src/runtime/kv-cache.js';
import { openRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import type { SamplingParams } from '../../../src/runtime/sampler.js';
import { GemmaError } from '../../../src/util/errors.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';

const fp32: WeightFormat = { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };
const off = { topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: 64 };
const greedy: SamplingParams = { ...off, temperature: 0 };
/**
 * This random model's capped logits are peaked: strong repeat penalties and high
 * temperatures make the filters bind. In the first, each filter changes the output (checked below).
 */
const SAMPLED: SamplingParams[] = [
  { temperature: 8, topK: 40, topP: 0.99, minP: 0.001, repeatPenalty: 4, repeatLastN: 16 },
  { temperature: 2, topK: 0, topP: 0.9, minP: 0.01, repeatPenalty: 6, repeatLastN: -1 },
  { temperature: 6, topK: 300, topP: 1, minP: 0.1, repeatPenalty: 2, repeatLastN: 4 },
  { ...off, temperature: 20 },
  // A window of 0 tokens: no penalty, though the loop's own tokens would otherwise enter it.
  { temperature: 8, topK: 40, topP: 0.99, minP: 0.001, repeatPenalty: 4, repeatLastN: 0 },
];
const FILTERS_OFF: Partial<SamplingParams>[] = [{ topK: 0 }, { topP: 1 }, { minP: 0 }, { repeatPenalty: 1 }];

/**
 * The step path's and the loop's caches: each layer's held positions (all of them, or a
 * sliding layer's ring: the last `capacity`, position q at row q mod capacity), keys [heads,
 * positions, head_dim] and values in the layout's order.
 */
function cachedRows(engine: Engine): { keys: Float32Array; values: Float32Array }[] {
  // The cache is the stage's own; only this test reads it from outside.
  const [stage] = (engine as unknown as { stages: { cache: { layers: LayerCache[] } }[] }).stages;
  return stage!.cache.layers.map((l) => {
    const keys: number[] = [];
    const values: number[] = [];
    const held = Array.from({ length: Math.min(l.length, l.capacity) }, (_, i) => (l.length - Math.min(l.length, l.capacity) + i) % l.capacity);
    for (let h = 0; h < l.heads; h++) {
      for (const r of held) keys.push(...l.keys.subarray((h * l.capacity + r) * l.headDim, (h * l.capacity + r + 1) * l.headDim));
      if (!l.layout.transposedValues) for (const r of held) values.push(...l.values.subarray((h * l.capacity + r) * l.headDim, (h * l.capacity + r + 1) * l.headDim));
      else for (let d = 0; d < l.headDim; d++) for (const r of held) values.push(l.values[(h * l.headDim + d) * l.capacity + r]!);
    }
    return { keys: Float32Array.from(keys), values: Float32Array.from(values) };
  });
}

function maxRowDiff(a: Engine, b: Engine): number {
  const [ra, rb] = [cachedRows(a), cachedRows(b)];
  let d = 0;
  ra.forEach((layer, i) => {
    for (const side of ['keys', 'values'] as const) {
      assert.equal(layer[side].length, rb[i]![side].length);
      layer[side].forEach((v, j) => (d = Math.max(d, Math.abs(v - rb[i]![side][j]!))));
    }
  });
  return d;
}

for (const attention of ATTENTION_KERNELS) describe(`the decode loop (${attention} attention): several decode steps per graph run give the step-by-step tokens and cache`, () => {
  let root: string;
  let dir: string;
  let steps: Runtime;
  let loop: Runtime;

  /** A completion of PROMPT (24 tokens, window 8) on `r`, from an empty cache. */
  async function complete(r: Runtime, o: Partial<GenerateOptions> & { sampling: SamplingParams }): Promise<GenerateResult> {
    r.engine.rollback(0);
    const logits = (await r.engine.feed(PROMPT))[0]!;
    return generate(r.engine, logits, r.tokenizer, { seed: 7, maxTokens: 24, stopIds: new Set(), ignoreEos: true, ...o });
  }

  before(async () => {
    root = await tempDir('decode-loop');
    dir = join(root, 'one');
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: dir, format: { ...fp32, attention }, label: 'binding', stages: 1 });
    // Chunks of 5: prompts run through the loop graph in several runs, past the window of 8; with the ops kernel, sliding
    // layers keep rings of 8 + 5 rows, which the 48 positions of a completion wrap.
    steps = await openRuntime(dir, { threads: 1, prefillChunk: 5 });
    loop = await openRuntime(dir, { threads: 1, decodeSteps: 8, prefillChunk: 5 });
  });
  after(async () => {
    await Promise.all([steps, loop].map((r) => r?.engine.close()));
    await rm(root, { recursive: true, force: true });
  });

  test('a prompt runs through the loop graph in chunks, each one step: the step graph\'s logits and cache', async () => {
    const logits = async (r: Runtime): Promise<Float32Array> => {
      r.engine.rollback(0);
      return Float32Array.from((await r.engine.feed(PROMPT))[0]!);
    };
    const [want, got] = [await logits(steps), await logits(loop)];
    const d = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
    assert.ok(d < 1e-4, `last logits differ by ${d}`);
    assert.ok(maxRowDiff(loop.engine, steps.engine) < 1e-4);
    assert.deepEqual(loop.engine.tokens, PROMPT);
  });

  test('greedy: the same tokens and, within float rounding, the same cached keys and values as one step per run', async () => {
    const want = await complete(steps, { sampling: greedy });
    const got = await complete(loop, { sampling: greedy });
    assert.deepEqual(got.ids, want.ids);
    assert.deepEqual(loop.engine.tokens, steps.engine.tokens);
    assert.equal(loop.engine.tokens.length, PROMPT.length + 23, 'the last sampled token is not fed');
    const d = maxRowDiff(loop.engine, steps.engine);
    assert.ok(d < 1e-4, `cached rows differ by ${d}`);
    assert.equal(loop.engine.counters.decodeTokens, steps.engine.counters.decodeTokens);
  });

  test('sampling at temperature > 0 with top-k, top-p, min-p and the repeat penalty: the host sampler\'s tokens for the same seed', async () => {
    for (const sampling of SAMPLED) {
      const want = await complete(steps, { sampling });
      assert.deepEqual((await complete(loop, { sampling })).ids, want.ids, JSON.stringify(sampling));
      const d = maxRowDiff(loop.engine, steps.engine);
      assert.ok(d < 1e-4, `cached rows differ by ${d} with ${JSON.stringify(sampling)}`);
    }
    const all = await complete(steps, { sampling: SAMPLED[0]! });
    for (const filter of FILTERS_OFF) {
      assert.notDeepEqual((await complete(steps, { sampling: { ...SAMPLED[0]!, ...filter } })).ids, all.ids, `${JSON.stringify(filter)} changes nothing`);
    }
  });

  test('-n and the context bound the runs: the step path\'s tokens and stop reason', async () => {
    for (const maxTokens of [1, 2, 5, 13]) {
      const [want, got] = [await complete(steps, { sampling: SAMPLED[0]!, maxTokens }), await complete(loop, { sampling: SAMPLED[0]!, maxTokens })];
      assert.deepEqual(got, want);
      assert.deepEqual(loop.engine.tokens, steps.engine.tokens);
    }
    const small = await openRuntime(dir, { threads: 1, decodeSteps: 4, ctxSize: PROMPT.length + 6 });
    try {
      const got = await complete(small, { sampling: SAMPLED[0]!, maxTokens: -1 });
      assert.equal(got.stopReason, 'context');
      assert.equal(got.ids.length, 7);
      assert.equal(small.engine.tokens.length, PROMPT.length + 6);
    } finally {
      await small.engine.close();
    }
  });

  test('every end token of generation_config.json stops the loop, the second eos id included, and is never returned', async () => {
    const sequence = (await complete(steps, { sampling: SAMPLED[0]! })).ids;
    const at = sequence.findIndex((id, i) => i >= 5 && !sequence.slice(0, i).includes(id));
    const target = sequence[at]!;
    const configFile = join(dir, 'generation_config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8')) as { eos_token_id: number[] };
    await writeFile(configFile, JSON.stringify({ ...config, eos_token_id: [config.eos_token_id[0], target] }));
    const ends = await openRuntime(dir, { threads: 1, decodeSteps: 8 });
    try {
      assert.deepEqual([...ends.stopIds].slice(0, 2), [config.eos_token_id[0], target]);
      for (const stopIds of [ends.stopIds, new Set([target])]) {
        const want = await complete(steps, { sampling: SAMPLED[0]!, stopIds, ignoreEos: false });
        const got = await complete(ends, { sampling: SAMPLED[0]!, stopIds, ignoreEos: false });
        assert.deepEqual(got, want);
        assert.deepEqual(got.ids, sequence.slice(0, at));
        assert.equal(got.stopReason, 'eos');
        assert.deepEqual(ends.engine.tokens, [...PROMPT, ...sequence.slice(0, at)], 'the end token is fed by neither path');
      }
    } finally {
      await ends.engine.close();
      await writeFile(configFile, JSON.stringify(config));
    }
  });

  test('a second chat turn on top of the loop\'s cache gives the step path\'s answer and cache', async () => {
    const turn = { sampling: SAMPLED[1]!, seed: 3, maxTokens: 10 };
    for (const r of [steps, loop]) r.chat.reset();
    for (const message of ['Hello there', 'How are you?']) {
      const [want, got] = [await steps.chat.chat(message, turn), await loop.chat.chat(message, turn)];
      assert.deepEqual(got.ids, want.ids, message);
      assert.equal(got.prefilled, want.prefilled);
      assert.deepEqual(loop.engine.tokens, steps.engine.tokens);
    }
    const d = maxRowDiff(loop.engine, steps.engine);
    assert.ok(d < 1e-4, `cached rows differ by ${d}`);
  });

  test('--decode-steps above 1 on a two-graph export is refused in one line naming the fix', async () => {
    const two = join(root, 'two');
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: two, format: fp32, label: 'binding', stages: 2 });
    await assert.rejects(openRuntime(two, { threads: 1, decodeSteps: 4 }), (err: unknown) =>
      err instanceof GemmaError && /--decode-steps 4 needs the decode loop, .* has 2 graphs; convert it again with gemma quantize --stages 1/.test(err.message));
  });
});
