import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { variantName, type WeightFormat } from '../../../src/quantize/precision.js';
import { logitError, type LogitError } from '../../helpers/logit-error.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';
import { loadSession, promptLogits } from '../../helpers/onnx-run.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward } from '../../reference/gemma2-reference.js';

const base: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };

/**
 * Upper bounds on the measured error of each variant (docs/quantization.md has the
 * measurements; bounds leave ~1.5x headroom). Logit range of the test model: ±30.
 */
const VARIANTS: { format: WeightFormat; maxAbs: number; meanAbs: number }[] = [
  { format: { ...base, precision: 'int8', accuracyLevel: 0 }, maxAbs: 0.3, meanAbs: 0.05 },
  { format: { ...base, precision: 'int8' }, maxAbs: 0.4, meanAbs: 0.07 },
  { format: { ...base, precision: 'int8', blockSize: 128 }, maxAbs: 0.5, meanAbs: 0.08 },
  { format: { ...base, accuracyLevel: 0 }, maxAbs: 4.5, meanAbs: 0.75 },
  { format: base, maxAbs: 4.5, meanAbs: 0.75 },
  { format: { ...base, asymmetric: true }, maxAbs: 5, meanAbs: 0.75 },
  { format: { ...base, blockSize: 64 }, maxAbs: 4.5, meanAbs: 0.75 },
  { format: { ...base, blockSize: 64, asymmetric: true }, maxAbs: 4.5, meanAbs: 0.75 },
  { format: { ...base, blockSize: 128 }, maxAbs: 4.5, meanAbs: 0.8 },
  { format: { ...base, keepEmbeddings: true }, maxAbs: 3, meanAbs: 0.5 },
];

describe('quantized exports: measured error against the float64 reference', () => {
  let root: string;
  const measured = new Map<string, LogitError & { dataBytes: number }>();

  before(async () => {
    const checkpoint = await bindingCheckpoint();
    root = await tempDir('quantized');
    const { spec, weights } = await loadReferenceWeights(checkpoint);
    const reference = referenceForward(spec.config, weights, PROMPT).logits;
    for (const { format } of VARIANTS) {
      const outDir = join(root, variantName(format));
      const { manifest } = await exportModel({ checkpointDir: checkpoint, outDir, format, label: 'binding' });
      const session = await loadSession(outDir);
      measured.set(variantName(format), { ...logitError(await promptLogits(session, spec, PROMPT), reference), dataBytes: manifest.sizes.dataBytes });
      await session.release();
    }
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('prints the error table', (t) => {
    t.diagnostic('variant | data bytes | max |Δlogit| | mean |Δlogit| | top-1 agreement | KL (nats)');
    for (const [name, e] of measured) {
      t.diagnostic(`${name} | ${e.dataBytes} | ${e.maxAbs.toFixed(3)} | ${e.meanAbs.toFixed(4)} | ${e.top1.toFixed(3)} | ${e.kl.toExponential(2)}`);
    }
    assert.equal(measured.size, VARIANTS.length);
  });

  for (const { format, maxAbs, meanAbs } of VARIANTS) {
    test(`${variantName(format)}: max error < ${maxAbs}, mean < ${meanAbs}, top-1 agrees everywhere but one position at most`, () => {
      const e = measured.get(variantName(format))!;
      assert.ok(e.maxAbs < maxAbs, `max ${e.maxAbs}`);
      assert.ok(e.meanAbs < meanAbs, `mean ${e.meanAbs}`);
      assert.ok(e.top1 >= 1 - 1 / PROMPT.length, `top-1 ${e.top1}`);
    });
  }

  test('int8 is at least 5x closer to the reference than int4, and an fp32 vocabulary is closer than a quantized one', () => {
    const int8 = measured.get(variantName({ ...base, precision: 'int8' }))!;
    const int4 = measured.get(variantName(base))!;
    const keep = measured.get(variantName({ ...base, keepEmbeddings: true }))!;
    assert.ok(int8.meanAbs * 5 < int4.meanAbs, `int8 ${int8.meanAbs} vs int4 ${int4.meanAbs}`);
    assert.ok(keep.meanAbs < int4.meanAbs, `fp32 embeddings ${keep.meanAbs} vs int4 ${int4.meanAbs}`);
  });

  test('larger blocks store fewer bytes', () => {
    const size = (blockSize: number): number => measured.get(variantName({ ...base, blockSize }))!.dataBytes;
    assert.ok(size(32) > size(64) && size(64) > size(128));
  });
});
