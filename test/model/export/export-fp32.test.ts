import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { readdir, rm } from 'node:fs/promises';
import { openCheckpoint } from '../../../src/checkpoint/checkpoint.js';
import type { ModelSpec } from '../../../src/checkpoint/config.js';
import { normWeight } from '../../../src/checkpoint/tensor-names.js';
import { relativeError } from '../../helpers/logit-error.js';
import { bindingCheckpoint, BINDING_CONFIG, BINDING_OPTIONS, checkpointFor, PROMPT, tempDir } from '../../helpers/models.js';
import { emptyPast, runStep, type ExportSessions } from '../../helpers/onnx-run.js';
import { FP32, fp32VsReference } from '../../helpers/fp32-reference.js';
import { exportModel } from '../../../src/export/export.js';
import { GemmaError } from '../../../src/util/errors.js';
import { ATTENTION_KERNELS } from '../../../src/quantize/precision.js';
import { referenceForward, type ReferenceOptions, type ReferenceResult, type Weights } from '../../reference/gemma2-reference.js';

/** fp32 exports must match the float64 reference to 1e-4 of the logit range. */
const TOLERANCE = 1e-4;

for (const attention of ATTENTION_KERNELS) describe(`fp32 export (${attention} attention) vs the float64 reference (window 8, caps binding, 24-token prompt)`, () => {
  let root: string;
  let checkpoint: string;
  let spec: ModelSpec;
  let weights: Weights;
  let session: ExportSessions;
  let reference: ReferenceResult;
  let onnxLogits: Float32Array[];

  before(async () => {
    checkpoint = await bindingCheckpoint();
    root = await tempDir('fp32');
    ({ spec, weights, session, reference, onnxLogits } = await fp32VsReference(checkpoint, join(root, 'fp32'), 'binding', PROMPT, attention));
  });
  after(async () => {
    await session?.release();
    await rm(root, { recursive: true, force: true });
  });

  test('the test model makes every Gemma 2 feature bind', async () => {
    const c = BINDING_CONFIG;
    assert.ok(PROMPT.length > 2 * c.sliding_window, 'prompt reaches past the window');
    assert.ok(reference.maxAbsAttnScore > 2 * c.attn_logit_softcapping!, `attention scores ${reference.maxAbsAttnScore} exceed the cap`);
    assert.ok(reference.maxAbsFinalLogit > 1.5 * c.final_logit_softcapping!, `logits ${reference.maxAbsFinalLogit} exceed the cap`);
    assert.notEqual(c.query_pre_attn_scalar, c.head_dim);
    assert.equal(c.head_dim % 16, 0);
    const ckpt = await openCheckpoint(checkpoint);
    const norm = await ckpt.rows(normWeight(1, 'post_feedforward_layernorm'), 0, c.hidden_size);
    await ckpt.close();
    assert.ok(norm.some((w) => Math.abs(w) > 0.1), 'norm weights are not zero');
  });

  test('logits match at every position to 1e-4 of the logit range', () => {
    assert.equal(onnxLogits.length, PROMPT.length);
    const err = relativeError(onnxLogits, reference.logits);
    assert.ok(err < TOLERANCE, `relative error ${err}`);
  });

  const broken: [string, ReferenceOptions][] = [
    ['no attention soft-cap', { attnSoftcap: false }],
    ['no final soft-cap', { finalSoftcap: false }],
    ['no sliding window', { slidingWindow: false }],
    ['odd layers sliding instead of even', { slidingParity: 'odd' }],
    ['query scale head_dim^-0.5 instead of query_pre_attn_scalar^-0.5', { queryScale: BINDING_CONFIG.head_dim ** -0.5 }],
  ];
  for (const [what, options] of broken) {
    test(`a reference with ${what} is far outside the tolerance`, () => {
      const err = relativeError(onnxLogits, referenceForward(spec.config, weights, PROMPT, options).logits);
      assert.ok(err > 100 * TOLERANCE, `relative error ${err} should exceed ${100 * TOLERANCE}`);
    });
  }

  test('logits_to_keep = 1 returns exactly the last position', async () => {
    const last = await runStep(session, spec, PROMPT, 0, emptyPast(spec), 1);
    assert.equal(last.logits.length, 1);
    assert.deepEqual([...last.logits[0]!], [...onnxLogits[PROMPT.length - 1]!]);
  });

  test('decoding token by token from cached rows matches the reference at every step', async () => {
    const logits = await incremental(session, spec, PROMPT, [6, ...Array(PROMPT.length - 6).fill(1)], 0);
    assert.ok(relativeError(logits, reference.logits.slice(5)) < TOLERANCE);
  });

  test('chunked prefill over a cache padded with junk rows (which the graph masks) matches too', async () => {
    const logits = await incremental(session, spec, PROMPT, [5, 7, 3, 9], 5);
    assert.ok(relativeError(logits, reference.logits.slice(4)) < TOLERANCE);
  });

  test('a chunk past the streamed-keys limit (17 tokens × group 2 > 32 rows) reads the cache the other way, and matches', async () => {
    const logits = await incremental(session, spec, PROMPT, [5, 17, 2], 3);
    assert.ok(relativeError(logits, reference.logits.slice(4)) < TOLERANCE);
  });
});

/** Runs the prompt in chunks, keeping each layer's cache in JS as the runtime does, fed with `padding` junk rows. */
async function incremental(session: ExportSessions, spec: ModelSpec, ids: number[], chunks: number[], padding: number): Promise<Float32Array[]> {
  const cache = spec.isSliding.map(() => ({ keys: [] as number[], values: [] as number[] }));
  const out: Float32Array[] = [];
  let start = 0;
  for (const size of chunks) {
    const chunk = ids.slice(start, start + size);
    const past = cache.map((c) => ({ keys: Float32Array.from(c.keys), values: Float32Array.from(c.values) }));
    const step = await runStep(session, spec, chunk, start, past, 0, padding);
    cache.forEach((c, i) => {
      c.keys.push(...step.newKeys[i]!);
      c.values.push(...step.newValues[i]!);
    });
    out.push(...(start === 0 ? step.logits.slice(-1) : step.logits));
    start += size;
  }
  return out;
}

test('--attention gqa on a head_dim the fused kernel cannot take is refused in one line, before anything is written', async () => {
  const config = { ...BINDING_CONFIG, head_dim: 24 };
  const checkpoint = await checkpointFor('head-dim-24', config, BINDING_OPTIONS);
  const root = await tempDir('gqa-head-dim');
  try {
    const outDir = join(root, 'out');
    await assert.rejects(exportModel({ checkpointDir: checkpoint, outDir, format: { ...FP32, attention: 'gqa' }, label: 'head_dim 24' }),
      (err: unknown) => err instanceof GemmaError && /^--attention gqa needs head_dim to be a multiple of 16 .* this model's is 24: use --attention ops$/.test(err.message));
    assert.deepEqual(await readdir(root), []);
    await exportModel({ checkpointDir: checkpoint, outDir, format: FP32, label: 'head_dim 24' });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
