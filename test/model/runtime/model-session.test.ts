import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/quantize/export.js';
import { loadEngine } from '../../../src/runtime/runtime.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';

describe('loadEngine', () => {
  let root: string;
  let exportDir: string;

  before(async () => {
    root = await tempDir('session');
    exportDir = join(root, 'int4');
    const format = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu' } as const;
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: exportDir, label: 'binding', format });
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('profilePrefix: onnxruntime writes one per-node profile of each stage\'s runs when the engine closes', async () => {
    const profiles = join(root, 'profiles');
    await mkdir(profiles);
    const profiled = await loadEngine(exportDir, { threads: 1, ctxSize: 64, profilePrefix: join(profiles, 'decode') });
    await profiled.feed(PROMPT.slice(0, 4));
    await profiled.close();
    const files = (await readdir(profiles)).sort();
    assert.deepEqual(files.map((f) => f.split('_')[0]), ['decode-stage0', 'decode-stage1']);
    for (const [i, file] of files.entries()) {
      const events = JSON.parse(await readFile(join(profiles, file), 'utf8')) as { cat: string; args?: { op_name?: string } }[];
      const ops = new Set(events.filter((e) => e.cat === 'Node').map((e) => e.args?.op_name));
      assert.ok(ops.has('MatMulNBits') && ops.has('SimplifiedLayerNormalization'), [...ops].join(', '));
      assert.equal(ops.has('GatherBlockQuantized'), i === 0, 'the embedding is in the first stage only');
    }
  });
});
