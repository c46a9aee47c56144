import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import type { WeightFormat } from '../../../src/quantize/precision.js';
import type { Engine } from '../../../src/runtime/engine.js';
import { loadEngine } from '../../../src/runtime/runtime.js';
import { openSlotEngines, openWorkerEngine } from '../../../src/runtime/worker/remote-stage.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';

const fp32: WeightFormat = { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };

/** Every position's logits of the prompt fed in chunks (past the window of 8), copied out. */
async function logits(engine: Engine, chunk: number): Promise<Float32Array[]> {
  engine.rollback(0);
  const out: Float32Array[] = [];
  for (let at = 0; at < PROMPT.length; at += chunk) out.push(...(await engine.feed(PROMPT.slice(at, at + chunk), true)).map((l) => Float32Array.from(l)));
  return out;
}

const maxDiff = (a: Float32Array[], b: Float32Array[]): number =>
  Math.max(...a.map((row, p) => Math.max(...row.map((v, i) => Math.abs(v - b[p]![i]!)))));

describe('the engine over its stages: one graph or two, in this thread or in workers', () => {
  let root: string;
  let one: Engine;
  let two: Engine;
  let workers: Engine;

  before(async () => {
    const checkpoint = await bindingCheckpoint();
    root = await tempDir('engine');
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, 'one'), format: fp32, label: 'binding', stages: 1 });
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, 'two'), format: fp32, label: 'binding' });
    one = await loadEngine(join(root, 'one'), { threads: 1 });
    two = await loadEngine(join(root, 'two'), { threads: 1 });
    workers = await openWorkerEngine(join(root, 'two'), { threads: 1 });
  });
  after(async () => {
    await Promise.all([one, two, workers].map((e) => e?.close()));
    await rm(root, { recursive: true, force: true });
  });

  test('two stages compute what one graph does', async () => {
    assert.equal(two.manifest.stages.length, 2);
    const d = maxDiff(await logits(two, 5), await logits(one, 5));
    assert.ok(d < 1e-5, `max |Δ| ${d}`);
  });

  test('stages in worker threads give the in-thread logits exactly, also after a rollback', async () => {
    assert.equal(maxDiff(await logits(workers, 7), await logits(two, 7)), 0);
    workers.rollback(10);
    two.rollback(10);
    const [viaWorkers, here] = [await workers.feed(PROMPT.slice(10), true), await two.feed(PROMPT.slice(10), true)];
    assert.equal(maxDiff(viaWorkers, here), 0);
    assert.deepEqual(workers.tokens, PROMPT);
  });

  test('a rollback keeps exactly the prefix: other tokens fed after it give the logits of a fresh run on the new sequence', async () => {
    const other = [...PROMPT.slice(0, 10), ...PROMPT.slice(10).reverse()];
    two.rollback(0);
    await two.feed(PROMPT);
    two.rollback(10);
    const continued = (await two.feed(other.slice(10), true)).map((l) => Float32Array.from(l));
    assert.deepEqual(two.tokens, other);
    two.rollback(0);
    const fresh = (await two.feed(other, true)).slice(10);
    const range = Math.max(...fresh.map((row) => Math.max(...row) - Math.min(...row)));
    const d = maxDiff(continued, fresh) / range;
    assert.ok(d < 1e-5, `max |Δ| ${d} of the logits' range`);
  });

  test('a context overflow is refused before any stage runs, and the cache stays usable', async () => {
    workers.rollback(0);
    await assert.rejects(workers.feed(Array(200).fill(5)), /200 tokens exceed the context of 128/);
    assert.equal(workers.tokens.length, 0);
    assert.equal(maxDiff(await logits(workers, 24), await logits(two, 24)), 0);
  });

  test('an interrupted prompt stops between chunks: what ran stays cached and counted, nothing is returned', async () => {
    const chunked = await loadEngine(join(root, 'one'), { threads: 1, prefillChunk: 8 });
    try {
      let polls = 0;
      assert.deepEqual(await chunked.feed(PROMPT, false, () => ++polls > 1), []);
      assert.deepEqual([polls, chunked.tokens, chunked.counters.prefillTokens], [2, PROMPT.slice(0, 16), 16]);
      assert.equal((await chunked.feed(PROMPT.slice(16), false, () => true)).length, 1, 'one chunk left: nothing to interrupt');
    } finally {
      await chunked.close();
    }
  });

  test('slots share the workers\' sessions, each with its own cache: interleaved prompts give the logits each gives alone', async () => {
    const slots = await openSlotEngines(join(root, 'two'), { threads: 1, caches: 2 });
    try {
      const [a, b] = slots.engines as [Engine, Engine];
      const other = [...PROMPT].reverse();
      const lastLogits = async (e: Engine, ids: number[]): Promise<Float32Array> => {
        e.rollback(0);
        await e.feed(ids.slice(0, 12));
        return Float32Array.from((await e.feed(ids.slice(12)))[0]!);
      };
      const alone = [await lastLogits(a, PROMPT), await lastLogits(b, other)];
      a.rollback(0);
      b.rollback(0);
      const together = await Promise.all([a.feed(PROMPT.slice(0, 12)), b.feed(other.slice(0, 12))]);
      assert.equal(together.length, 2);
      const rest = await Promise.all([a.feed(PROMPT.slice(12)), b.feed(other.slice(12))]);
      assert.equal(maxDiff(rest.map((r) => r[0]!), alone), 0);
      assert.deepEqual([a.tokens, b.tokens], [PROMPT, other]);
    } finally {
      await slots.close();
    }
  });
});
