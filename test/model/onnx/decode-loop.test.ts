import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { INPUT_IDS, LOGITS, MAX_STEPS, newKey, newValue, pastKey, pastValue, POSITION_IDS, SAMPLING_INPUTS, STOP_IDS, TOKENS } from '../../../src/onnx/io-names.js';
import { exportModel } from '../../../src/export/export.js';
import { LOOP_FILE, MANIFEST_FILE, type Manifest } from '../../../src/export/manifest.js';
import type { WeightFormat } from '../../../src/quantize/precision.js';
import { decodeModel, type DecodedModel } from '../../helpers/onnx-model.js';
import { bindingCheckpoint, BINDING_CONFIG, tempDir } from '../../helpers/models.js';

const int4: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };
const layers = Array.from({ length: BINDING_CONFIG.num_hidden_layers }, (_, i) => i);

describe('the decode loop graph of a one-graph export', () => {
  let root: string;
  let loop: DecodedModel;
  let step: DecodedModel;

  before(async () => {
    root = await tempDir('loop-graph');
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: join(root, 'one'), format: int4, label: 'graph test', stages: 1 });
    [loop, step] = await Promise.all([decodeModel(join(root, 'one', LOOP_FILE)), decodeModel(join(root, 'one', 'model.onnx'))]);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('the manifest lists it; a staged export has none', async () => {
    const manifest = (dir: string): Promise<Manifest> => readFile(join(root, dir, MANIFEST_FILE), 'utf8').then((t) => JSON.parse(t) as Manifest);
    assert.equal((await manifest('one')).loop, LOOP_FILE);
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: join(root, 'two'), format: int4, label: 'graph test' });
    assert.equal((await manifest('two')).loop, undefined);
  });

  test('inputs and outputs as docs/graph-contract.md lists them; one Loop over the whole model', () => {
    const cache = layers.flatMap((i) => [pastKey(i), pastValue(i)]);
    assert.deepEqual([...loop.inputs.keys()], [INPUT_IDS, POSITION_IDS, ...cache, MAX_STEPS, STOP_IDS, ...Object.values(SAMPLING_INPUTS)]);
    assert.deepEqual([...loop.outputs.keys()], [TOKENS, LOGITS, ...layers.flatMap((i) => [newKey(i), newValue(i)])]);
    assert.deepEqual([...loop.nodes.values()].map((n) => n.opType), ['Loop']);
    const body = new Set(loop.branchNodes.map((n) => n.name));
    for (const i of layers) for (const block of ['input_norm', 'attn.qkv', 'attn.softcap.tanh', 'attn.o', 'mlp.gate_up', 'post_feedforward_norm']) assert.ok(body.has(`layers.${i}.${block}`));
    for (const name of ['embed.lookup', 'final_norm', 'lm_head', 'final_softcap.tanh', 'sample.penalty', 'sample.token']) assert.ok(body.has(name), name);
  });

  test('the body reads the cache as the step graph does (FusedMatMul with transB, Shape); sliding masks go to even layers', () => {
    const pastInputs = new Set(layers.flatMap((i) => [pastKey(i), pastValue(i)]));
    const readers = loop.branchNodes.filter((n) => n.input.some((x) => pastInputs.has(x)));
    assert.ok(readers.length >= pastInputs.size);
    for (const n of readers) assert.ok(['FusedMatMul', 'Shape'].includes(n.opType), `${n.name} (${n.opType}) reads the cache`);
    const masked = new Map(loop.branchNodes.filter((n) => n.name.endsWith('.attn.masked')).map((n) => [n.name, n.input[0]]));
    for (const i of layers) assert.equal(masked.get(`layers.${i}.attn.masked`), i % 2 === 0 ? 'mask.sliding.rows' : 'mask.global.rows');
  });

  test('every weight is the step graph\'s bytes in the same data file: stored once', () => {
    const external = [...loop.initializers.values()].filter((t) => t.external !== undefined);
    assert.ok(external.length > layers.length * 4);
    for (const t of external) assert.deepEqual(t.external, step.initializers.get(t.name)?.external, t.name);
  });
});
