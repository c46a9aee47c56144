import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ModelSpec } from '../../../src/checkpoint/config.js';
import { openRandomSource } from '../../../src/checkpoint/random-source.js';
import { exportCheckpoint, exportModel } from '../../../src/export/export.js';
import { DATA_FILE } from '../../../src/export/manifest.js';
import type { WeightFormat } from '../../../src/quantize/precision.js';
import { bindingCheckpoint, BINDING_CONFIG, BINDING_OPTIONS, PROMPT, tempDir } from '../../helpers/models.js';
import { loadSession, promptLogits } from '../../helpers/onnx-run.js';

const INT4: WeightFormat = { precision: 'int4', blockSize: 64, asymmetric: true, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };

describe('a generated random source converts to the same export as the checkpoint written from the same seed', () => {
  let root: string;
  let fromFiles: string;
  let generated: string;
  let spec: ModelSpec;

  before(async () => {
    root = await tempDir('random-source');
    fromFiles = join(root, 'from-files');
    generated = join(root, 'generated');
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: fromFiles, format: INT4, label: 'binding' });
    const source = await openRandomSource(join(root, 'source'), { config: BINDING_CONFIG, ...BINDING_OPTIONS });
    await exportCheckpoint(source, { outDir: generated, format: INT4, label: 'binding' });
    spec = source.spec;
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('the weight data is byte for byte the same', async () => {
    assert.ok((await readFile(join(generated, DATA_FILE))).equals(await readFile(join(fromFiles, DATA_FILE))));
  });

  test('the logits of a prompt are the same', async () => {
    const logits = async (dir: string): Promise<number[][]> => {
      const session = await loadSession(dir);
      try {
        return (await promptLogits(session, spec, PROMPT)).map((l) => [...l]);
      } finally {
        await session.release();
      }
    };
    assert.deepEqual(await logits(generated), await logits(fromFiles));
  });

  test('rows read again from the start, or from the middle, are the rows read in order', async () => {
    const source = await openRandomSource(join(root, 'again'), { config: BINDING_CONFIG, ...BINDING_OPTIONS });
    const name = 'model.layers.1.mlp.up_proj.weight';
    const whole = await source.rows(name, 0, 10);
    assert.deepEqual(await source.rows(name, 4, 6), whole.subarray(4 * BINDING_CONFIG.hidden_size));
    assert.deepEqual(await source.rows(name, 0, 4), whole.subarray(0, 4 * BINDING_CONFIG.hidden_size));
  });
});
