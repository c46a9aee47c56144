import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { perplexity } from '../../../src/runtime/perplexity.js';
import { openRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward } from '../../reference/gemma2-reference.js';

/** Mean NLL of the same windows under the float64 reference. */
async function referenceNll(checkpoint: string, ids: number[], window: number): Promise<number> {
  const { spec, weights } = await loadReferenceWeights(checkpoint);
  let nll = 0;
  let count = 0;
  for (let start = 0; start < ids.length; start += window) {
    const chunk = ids.slice(start, start + window);
    const logits = referenceForward(spec.config, weights, chunk).logits;
    for (let p = 0; p + 1 < chunk.length; p++) {
      const l = logits[p]!;
      const max = Math.max(...l);
      const lse = max + Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0));
      nll -= l[chunk[p + 1]!]! - lse;
      count++;
    }
  }
  return nll / count;
}

describe('perplexity', () => {
  let root: string;
  let checkpoint: string;
  let runtime: Runtime;
  const ids = [...PROMPT, ...PROMPT.slice(1).reverse(), ...PROMPT.slice(3, 13)];
  const window = 16;

  before(async () => {
    checkpoint = await bindingCheckpoint();
    root = await tempDir('ppl');
    const dir = join(root, 'fp32');
    await exportModel({ checkpointDir: checkpoint, outDir: dir, label: 'binding', format: { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' } });
    runtime = await openRuntime(dir, { threads: 1, prefillChunk: 7 });
  });
  after(async () => {
    await runtime?.engine.close();
    await rm(root, { recursive: true, force: true });
  });

  test('fp32 export: windows of 16 over 57 tokens equal the reference within 1e-4 relative', async () => {
    const result = await perplexity(runtime.engine, ids, window);
    const expected = await referenceNll(checkpoint, ids, window);
    assert.equal(result.windows, 4);
    assert.equal(result.tokens, 15 + 15 + 15 + 8);
    assert.ok(Math.abs(result.nll - expected) / expected < 1e-4, `nll ${result.nll} vs ${expected}`);
    assert.ok(Math.abs(result.ppl - Math.exp(expected)) / Math.exp(expected) < 1e-4);
  });
});
