import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { defaultLayout, variantName, type WeightFormat } from '../../../src/quantize/precision.js';
import { logitError } from '../../helpers/logit-error.js';
import { realVocabCheckpoint, tempDir } from '../../helpers/models.js';
import { loadSession, promptLogits } from '../../helpers/onnx-run.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward, type ReferenceResult } from '../../reference/gemma2-reference.js';

/** Ids from the real tokenizer's range, past the window of 8. */
const PROMPT = [2, 106, 1645, 108, 4521, 2134, 235341, 107, 108, 106, 2516, 108];

describe('Gemma 2 vocabulary size (256000 rows, real tokenizer)', () => {
  let root: string;
  let checkpoint: string;
  let reference: ReferenceResult;
  const run = async (format: WeightFormat): Promise<Float32Array[]> => {
    const outDir = join(root, format.precision);
    await exportModel({ checkpointDir: checkpoint, outDir, format, label: 'real vocab' });
    const { spec } = await loadReferenceWeights(checkpoint);
    const session = await loadSession(outDir);
    const logits = await promptLogits(session, spec, PROMPT);
    await session.release();
    return logits;
  };

  before(async () => {
    checkpoint = await realVocabCheckpoint();
    root = await tempDir('real-vocab');
    const { spec, weights } = await loadReferenceWeights(checkpoint);
    reference = referenceForward(spec.config, weights, PROMPT);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('fp32 export matches the reference to 1e-4 of the logit range', async () => {
    const e = logitError(await run({ precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' }), reference.logits);
    assert.ok(e.maxAbs / e.range < 1e-4, `relative error ${e.maxAbs / e.range}`);
    assert.equal(e.top1, 1);
  });

  test('default int4 export (quantized shared vocabulary) stays within its error bounds', async (t) => {
    const format: WeightFormat = { precision: 'int4', ...defaultLayout('int4', 'cpu'), accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };
    const e = logitError(await run(format), reference.logits);
    t.diagnostic(`${variantName(format)} at vocab 256000: max ${e.maxAbs.toFixed(3)} mean ${e.meanAbs.toFixed(4)} top-1 ${e.top1.toFixed(3)}`);
    assert.ok(e.maxAbs < 6 && e.meanAbs < 0.75, JSON.stringify(e));
    assert.ok(e.top1 >= 1 - 1 / PROMPT.length);
  });
});
