import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/quantize/export.js';
import { Engine } from '../../../src/runtime/engine.js';
import { loadModel } from '../../../src/runtime/model-session.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';

describe('loadModel', () => {
  let root: string;
  let exportDir: string;

  before(async () => {
    root = await tempDir('session');
    exportDir = join(root, 'int4');
    const format = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu' } as const;
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: exportDir, label: 'binding', format });
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('profilePrefix: onnxruntime writes one per-node profile of the runs', async () => {
    const profiles = join(root, 'profiles');
    await mkdir(profiles);
    const profiled = await loadModel(exportDir, { threads: 1, profilePrefix: join(profiles, 'decode') });
    await new Engine(profiled, { ctxSize: 64, prefillChunk: 64 }).feed(PROMPT.slice(0, 4));
    profiled.session.endProfiling();
    await profiled.session.release();
    const files = await readdir(profiles);
    assert.equal(files.length, 1);
    const events = JSON.parse(await readFile(join(profiles, files[0]!), 'utf8')) as { cat: string; args?: { op_name?: string } }[];
    const ops = new Set(events.filter((e) => e.cat === 'Node').map((e) => e.args?.op_name));
    assert.ok(ops.has('MatMulNBits') && ops.has('SimplifiedLayerNormalization'), [...ops].join(', '));
  });
});
