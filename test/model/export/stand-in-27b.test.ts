import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gemma2Config } from '../../../src/checkpoint/config.js';
import { MANIFEST_FILE, type Manifest } from '../../../src/export/manifest.js';
import { SHAPES } from '../../../bench/shaped-checkpoint.js';
import { gemma } from '../../helpers/cli.js';
import { FakeHub } from '../../helpers/fake-hub.js';
import { relativeError } from '../../helpers/logit-error.js';
import { PROMPT, STAND_IN_27B_CONFIG, standIn27bCheckpoint, tempDir } from '../../helpers/models.js';
import { fp32VsReference, type Fp32VsReference } from '../../helpers/fp32-reference.js';
import { referenceForward, type ReferenceOptions } from '../../reference/gemma2-reference.js';
import { hubHome, repoFiles, type HubHome } from '../hub/fixture.js';

/** fp32 exports must match the float64 reference to 1e-4 of the logit range, as export-fp32.test.ts. */
const TOLERANCE = 1e-4;
const REPO = 'google/gemma-2-27b-it';
const PUBLISHED = SHAPES['27b'].config;
/** The config keys that set the 27B apart, which the stand-in keeps as published. */
const KEPT_27B = ['num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'query_pre_attn_scalar', 'attn_logit_softcapping', 'final_logit_softcapping'] as const;

describe('gemma-2-27b stand-in: the 27B config path (46 layers, 32/16 heads, query_pre_attn_scalar 144) at test size', () => {
  let root: string;
  let run: Fp32VsReference;

  before(async () => {
    root = await tempDir('stand-in-27b');
    run = await fp32VsReference(await standIn27bCheckpoint(), join(root, 'fp32'), 'stand-in-27b', PROMPT);
  });
  after(async () => {
    await run?.session.release();
    await rm(root, { recursive: true, force: true });
  });

  test('the stand-in keeps what makes 27B special, and the caps and the window bind on the prompt', () => {
    const { spec, reference } = run;
    for (const key of KEPT_27B) assert.equal(STAND_IN_27B_CONFIG[key], PUBLISHED[key], key);
    assert.equal(PUBLISHED.query_pre_attn_scalar, PUBLISHED.hidden_size / PUBLISHED.num_attention_heads);
    assert.notEqual(spec.config.query_pre_attn_scalar, spec.config.head_dim);
    assert.deepEqual(spec.isSliding.filter(Boolean).length, 23);
    assert.ok(PROMPT.length > 2 * spec.config.sliding_window, 'prompt reaches past the window');
    assert.ok(reference.maxAbsAttnScore > 2 * spec.config.attn_logit_softcapping!, `attention scores ${reference.maxAbsAttnScore} exceed the cap`);
    assert.ok(reference.maxAbsFinalLogit > 1.5 * spec.config.final_logit_softcapping!, `logits ${reference.maxAbsFinalLogit} exceed the cap`);
  });

  test('fp32 export logits match the float64 reference at every position to 1e-4 of the logit range', () => {
    assert.equal(run.onnxLogits.length, PROMPT.length);
    const err = relativeError(run.onnxLogits, run.reference.logits);
    assert.ok(err < TOLERANCE, `relative error ${err}`);
  });

  const broken: [string, (c: Gemma2Config) => ReferenceOptions][] = [
    ['query scale head_dim^-0.5 instead of query_pre_attn_scalar^-0.5', (c) => ({ queryScale: c.head_dim ** -0.5 })],
    ['no sliding window', () => ({ slidingWindow: false })],
    ['odd layers sliding instead of even', () => ({ slidingParity: 'odd' })],
  ];
  for (const [what, options] of broken) {
    test(`a reference with ${what} is far outside the tolerance`, () => {
      const { spec, weights, onnxLogits } = run;
      const err = relativeError(onnxLogits, referenceForward(spec.config, weights, PROMPT, options(spec.config)).logits);
      assert.ok(err > 100 * TOLERANCE, `relative error ${err} should exceed ${100 * TOLERANCE}`);
    });
  }
});

describe(`gemma run ${REPO} through the fake Hub, on the stand-in`, () => {
  let hub: FakeHub;
  let home: HubHome;

  before(async () => {
    hub = await FakeHub.start();
    hub.addRepo(REPO, await repoFiles(standIn27bCheckpoint()));
    home = await hubHome('run-27b', hub.url);
  });
  after(async () => {
    await hub.close();
    await rm(home.root, { recursive: true, force: true });
  });

  test('pulls, converts and answers; the export\'s manifest holds the 27B config keys', async () => {
    const run = await gemma(['run', REPO, '-p', 'Hello', '-n', '4', '--temp', '0', '--json'], home.env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { ids: number[] }).ids.length, 4);
    const exportDir = join(home.env.GEMMA_HOME!, 'models', 'google--gemma-2-27b-it', 'int4-b64-asym');
    const manifest = JSON.parse(await readFile(join(exportDir, MANIFEST_FILE), 'utf8')) as Manifest;
    for (const key of KEPT_27B) assert.equal(manifest.config[key], PUBLISHED[key], key);
    assert.equal(manifest.config.head_dim, STAND_IN_27B_CONFIG.head_dim);
    assert.equal(manifest.config.torch_dtype, 'bfloat16');
    assert.match(manifest.source.label, /^google\/gemma-2-27b-it@/);
  });
});
