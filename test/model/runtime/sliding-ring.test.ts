import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { Engine } from '../../../src/runtime/engine.js';
import { loadStage, readExport } from '../../../src/runtime/model-session.js';
import { GREEDY } from '../../../src/runtime/sampler.js';
import { cachePlanOf } from '../../../src/runtime/kv-cache.js';
import { Stage } from '../../../src/runtime/stage.js';
import { FP32 } from '../../helpers/fp32-reference.js';
import { logitError } from '../../helpers/logit-error.js';
import { bindingCheckpoint, BINDING_CONFIG, PROMPT, tempDir } from '../../helpers/models.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward, type Weights } from '../../reference/gemma2-reference.js';
import type { ModelSpec } from '../../../src/checkpoint/config.js';

/** Prompt chunks of 3 tokens: the sliding layers' ring is the window (8) plus 3 rows, 11 in all, so 24 prompt tokens wrap it twice. */
const CHUNK = 3;
const RING_ROWS = BINDING_CONFIG.sliding_window + CHUNK;

const argmax = (x: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
};

/** An engine over the export's stages, each built here so that the test can read their caches. */
async function engineOf(dir: string, decodeSteps = 1): Promise<{ engine: Engine; stages: Stage[] }> {
  const info = await readExport(dir);
  const stages: Stage[] = [];
  for (const [i, plan] of info.manifest.stages.entries()) {
    const { session, loop } = await loadStage(info, i, { threads: 1, decodeLoop: decodeSteps > 1 });
    stages.push(new Stage(plan, session, info.spec, cachePlanOf(info.manifest, info.spec, CHUNK), false, loop));
  }
  return { engine: new Engine(info.manifest, info.spec, stages, { ctxSize: 128, prefillChunk: CHUNK, decodeSteps }), stages };
}

describe('sliding layers keep a ring of window + prompt chunk rows (fp32, window 8, chunks of 3)', () => {
  let root: string;
  let spec: ModelSpec;
  let weights: Weights;
  let staged: { engine: Engine; stages: Stage[] };
  let looped: { engine: Engine; stages: Stage[] };
  const reference = (ids: number[]): Float64Array[] => referenceForward(spec.config, weights, ids).logits;
  /** The largest logit error relative to the logit range, `got` being the logits of the last got.length positions of `ids`. */
  const error = (got: Float32Array[], ids: number[]): number => {
    const e = logitError(got, reference(ids).slice(ids.length - got.length));
    return e.maxAbs / e.range;
  };

  before(async () => {
    const checkpoint = await bindingCheckpoint();
    root = await tempDir('ring');
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, 'two'), format: FP32, label: 'binding' });
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, 'one'), format: FP32, label: 'binding', stages: 1 });
    ({ spec, weights } = await loadReferenceWeights(checkpoint));
    staged = await engineOf(join(root, 'two'));
    looped = await engineOf(join(root, 'one'), 4);
  });
  after(async () => {
    await Promise.all([staged, looped].map((e) => e?.engine.close()));
    await rm(root, { recursive: true, force: true });
  });

  test('a prompt that wraps the ring twice gives the reference logits at every position; only sliding layers stop at 11 rows', async () => {
    const { engine, stages } = staged;
    engine.rollback(0);
    const logits = (await engine.feed(PROMPT, true)).map((l) => Float32Array.from(l));
    const err = error(logits, PROMPT);
    assert.ok(err < 1e-4, `relative error ${err}`);
    const capacities = stages.flatMap((s) => s.cache.layers.map((l) => l.capacity));
    assert.deepEqual(capacities, spec.isSliding.map((sliding) => (sliding ? RING_ROWS : 32)));
  });

  test('decoding 20 more tokens one at a time stays on the reference', async () => {
    const { engine } = staged;
    engine.rollback(0);
    let [logits] = await engine.feed(PROMPT);
    const ids = [...PROMPT];
    const got: Float32Array[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push(argmax(logits!));
      [logits] = await engine.feed([ids.at(-1)!]);
      got.push(Float32Array.from(logits!));
    }
    const err = error(got, ids);
    assert.ok(err < 1e-4, `relative error ${err}`);
  });

  test('a rollback within the ring slack stays exact; a longer one empties the cache, and running the tokens again is exact', async () => {
    const { engine } = staged;
    const other = [...PROMPT.slice(0, 21), 99, 999, 1999, 7];
    engine.rollback(0);
    await engine.feed(PROMPT);
    engine.rollback(21);
    assert.equal(engine.tokens.length, 21, '3 positions back: the ring still holds the 7 before position 21');
    const tail = (await engine.feed(other.slice(21), true)).map((l) => Float32Array.from(l));
    assert.ok(error(tail, other) < 1e-4, `relative error ${error(tail, other)}`);
    engine.rollback(20);
    assert.equal(engine.tokens.length, 0, '5 positions back from 25: overwritten rows, so nothing is kept');
    const again = (await engine.feed(other, true)).map((l) => Float32Array.from(l));
    assert.ok(error(again, other) < 1e-4);
  });

  test('the decode loop over a ring samples the tokens one run per token does', async () => {
    const step = async (): Promise<number[]> => {
      staged.engine.rollback(0);
      let [logits] = await staged.engine.feed(PROMPT);
      const out: number[] = [];
      for (let i = 0; i < 16; i++) {
        out.push(argmax(logits!));
        [logits] = await staged.engine.feed([out.at(-1)!]);
      }
      return out;
    };
    const expected = await step();
    const { engine, stages } = looped;
    engine.rollback(0);
    const [logits] = await engine.feed(PROMPT);
    const tokens = [argmax(logits!)];
    while (tokens.length < 16) tokens.push(...(await engine.decode(tokens.at(-1)!, Math.min(4, 16 - tokens.length), { sampling: GREEDY, draws: new Float64Array(4), stopIds: [] })));
    assert.deepEqual(tokens, expected);
    assert.ok(stages[0]!.cache.layers.some((l) => l.capacity === RING_ROWS), 'the loop fed a ring');
  });
});
