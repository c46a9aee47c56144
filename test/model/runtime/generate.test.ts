import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { generate, type GenerateResult } from '../../../src/runtime/generate.js';
import { chatRuntime, openRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { FALLBACK_SAMPLING } from '../../../src/runtime/generation-config.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward, type Weights } from '../../reference/gemma2-reference.js';
import type { Gemma2Config } from '../../../src/checkpoint/config.js';

const STEPS = 24;
const greedy = { ...FALLBACK_SAMPLING, temperature: 0, repeatPenalty: 1 };

function argmax(x: ArrayLike<number>): { id: number; margin: number } {
  let best = 0;
  let second = -Infinity;
  for (let i = 1; i < x.length; i++) {
    if (x[i]! > x[best]!) (second = x[best]!), (best = i);
    else if (x[i]! > second) second = x[i]!;
  }
  return { id: best, margin: x[best]! - second };
}

/** The reference's greedy continuation, recomputing the whole sequence each step. */
function referenceGreedy(config: Gemma2Config, weights: Weights, prompt: number[], steps: number): { ids: number[]; minMargin: number } {
  const ids = [...prompt];
  let minMargin = Infinity;
  for (let s = 0; s < steps; s++) {
    const logits = referenceForward(config, weights, ids).logits;
    const { id, margin } = argmax(logits[logits.length - 1]!);
    minMargin = Math.min(minMargin, margin);
    ids.push(id);
  }
  return { ids: ids.slice(prompt.length), minMargin };
}

describe('greedy generation through the KV cache equals the float64 reference', () => {
  let root: string;
  let dir: string;
  let runtime: Runtime;
  let expected: { ids: number[]; minMargin: number };

  before(async () => {
    const checkpoint = await bindingCheckpoint();
    root = await tempDir('generate');
    dir = join(root, 'fp32');
    await exportModel({ checkpointDir: checkpoint, outDir: dir, label: 'binding', format: { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' } });
    runtime = await openRuntime(dir, { threads: 1, prefillChunk: 5 });
    const { spec, weights } = await loadReferenceWeights(checkpoint);
    expected = referenceGreedy(spec.config, weights, PROMPT, STEPS);
  });
  after(async () => {
    await runtime?.engine.close();
    await rm(root, { recursive: true, force: true });
  });

  test(`prompt of ${PROMPT.length} tokens (window 8) in chunks of 5, then ${STEPS} decode steps`, async () => {
    assert.ok(expected.minMargin > 1e-3, `reference top-2 margin ${expected.minMargin} is too close to call`);
    const { engine, tokenizer } = runtime;
    engine.rollback(0);
    const logits = (await engine.feed(PROMPT))[0]!;
    const result = await generate(engine, logits, tokenizer, { sampling: greedy, seed: 1, maxTokens: STEPS, stopIds: new Set(), ignoreEos: true });
    assert.deepEqual(result.ids, expected.ids);
    assert.equal(result.stopReason, 'max-tokens');
    assert.equal(engine.tokens.length, PROMPT.length + STEPS - 1, 'the last sampled token is not fed');
  });

  test('same seed, same sampled output; another seed, another output', async () => {
    const { engine, tokenizer } = runtime;
    const sample = async (seed: number): Promise<number[]> => {
      engine.rollback(0);
      const logits = (await engine.feed(PROMPT))[0]!;
      // This random model's capped logits are so peaked that only a high temperature makes sampling visible.
      const sampling = { ...FALLBACK_SAMPLING, temperature: 20, topK: 0, topP: 1, minP: 0 };
      return (await generate(engine, logits, tokenizer, { sampling, seed, maxTokens: 16, stopIds: new Set(), ignoreEos: true })).ids;
    };
    const a = await sample(7);
    assert.deepEqual(await sample(7), a);
    assert.notDeepEqual(await sample(8), a);
  });

  test('end tokens stop generation and are never returned; -n caps the length', async () => {
    const { engine, tokenizer } = runtime;
    engine.rollback(0);
    const logits = (await engine.feed(PROMPT))[0]!;
    const stop = expected.ids[3]!;
    const result = await generate(engine, logits, tokenizer, { sampling: greedy, seed: 1, maxTokens: -1, stopIds: new Set([stop]) });
    assert.deepEqual(result.ids, expected.ids.slice(0, expected.ids.indexOf(stop)));
    assert.equal(result.stopReason, 'eos');
  });

  test('an answer fills the context exactly: a prompt of P tokens in a context of C gets C - P + 1 tokens, all but the last fed', async () => {
    for (const ctxSize of [PROMPT.length + 1, PROMPT.length + 5]) {
      const small = await openRuntime(dir, { threads: 1, ctxSize });
      const logits = (await small.engine.feed(PROMPT))[0]!;
      const result = await generate(small.engine, logits, small.tokenizer, { sampling: greedy, seed: 1, maxTokens: -1, stopIds: new Set(), ignoreEos: true });
      await small.engine.close();
      assert.deepEqual(result.ids, expected.ids.slice(0, ctxSize - PROMPT.length + 1));
      assert.equal(result.stopReason, 'context');
      assert.equal(small.engine.tokens.length, ctxSize);
    }
  });

  test('the stop set is every id of generation_config.json\'s eos_token_id plus <end_of_turn>; generation stops on the second id', async () => {
    const { engine, tokenizer } = runtime;
    const sorted = (ids: Iterable<number>): number[] => [...ids].sort((a, b) => a - b);
    assert.equal(tokenizer.idOf('<end_of_turn>'), 107);
    assert.deepEqual(sorted(runtime.stopIds), [1, 107], 'the checkpoint\'s generation_config.json says [1, 107]');
    // Greedy output repeats one token here; a seeded hot sample gives a second end id reached after a few tokens.
    const sampling = { ...FALLBACK_SAMPLING, temperature: 20, topK: 0, topP: 1, minP: 0 };
    const sample = async (stopIds: ReadonlySet<number>): Promise<GenerateResult> => {
      engine.rollback(0);
      const logits = (await engine.feed(PROMPT))[0]!;
      return generate(engine, logits, tokenizer, { sampling, seed: 3, maxTokens: 16, stopIds });
    };
    const free = (await sample(new Set())).ids;
    const at = free.findIndex((id, i) => i > 0 && free.indexOf(id) === i && id !== 1 && id !== 107);
    assert.ok(at > 0, `sampled ${free} has a token first seen after the first`);
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [1, free[at]] }));
    const edited = await chatRuntime(dir, engine, tokenizer, {});
    assert.deepEqual(sorted(edited.stopIds), sorted([1, free[at]!, 107]), 'both ids of the file, and <end_of_turn> which it no longer lists');
    const stopped = await sample(edited.stopIds);
    assert.deepEqual(stopped.ids, free.slice(0, at));
    assert.equal(stopped.stopReason, 'eos');
  });
});
