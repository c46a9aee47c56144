import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openCheckpoint } from '../../../src/checkpoint/checkpoint.js';
import { normWeight } from '../../../src/checkpoint/tensor-names.js';
import { ALIGNMENT } from '../../../src/onnx/external-data.js';
import { hiddenStates, INPUT_IDS, LOGITS, LOGITS_TO_KEEP, newKey, newValue, pastKey, pastValue, POSITION_IDS } from '../../../src/onnx/io-names.js';
import { exportModel } from '../../../src/export/export.js';
import { DATA_FILE } from '../../../src/export/manifest.js';
import type { WeightFormat } from '../../../src/quantize/precision.js';
import { logitError } from '../../helpers/logit-error.js';
import { decodeExport, decodeModel, type DecodedModel } from '../../helpers/onnx-model.js';
import { bindingCheckpoint, BINDING_CONFIG, BINDING_OPTIONS, checkpointFor, PROMPT, tempDir } from '../../helpers/models.js';
import { loadSession, promptLogits } from '../../helpers/onnx-run.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward } from '../../reference/gemma2-reference.js';

const int4: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };

async function exported(checkpoint: string, dir: string, format: WeightFormat): Promise<DecodedModel> {
  await exportModel({ checkpointDir: checkpoint, outDir: dir, format, label: 'graph test' });
  return decodeExport(dir);
}

function scalar(model: DecodedModel, name: string): number {
  const t = model.initializers.get(name);
  assert.ok(t, `constant ${name}`);
  return t.values[0]!;
}

describe('the exported graph reads like Gemma 2', () => {
  let root: string;
  let model: DecodedModel;

  before(async () => {
    root = await tempDir('graph');
    model = await exported(await bindingCheckpoint(), join(root, 'int4'), int4);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('IR 10, opsets 21 and com.microsoft 1', () => {
    assert.equal(model.irVersion, 10);
    assert.deepEqual(model.opsets, [['', 21], ['com.microsoft', 1]]);
  });

  test('every layer has its named blocks, and sliding masks go to even layers only', () => {
    const byName = model.nodes;
    for (let i = 0; i < BINDING_CONFIG.num_hidden_layers; i++) {
      for (const block of ['input_norm', 'attn.qkv', 'attn.q_rope', 'attn.softcap.tanh', 'attn.o', 'post_attention_norm', 'pre_feedforward_norm', 'mlp.gate_up', 'mlp.gelu', 'mlp.down', 'post_feedforward_norm']) {
        assert.ok(byName.has(`layers.${i}.${block}`), `layers.${i}.${block}`);
      }
      const mask = byName.get(`layers.${i}.attn.masked`)!.input[0];
      assert.equal(mask, i % 2 === 0 ? 'mask.sliding.rows' : 'mask.global.rows', `layer ${i}`);
      assert.equal(byName.get(`layers.${i}.mlp.gelu`)!.attrs.approximate!.s, 'tanh');
    }
  });

  test('cached keys and values are only read (FusedMatMul with transB, Shape), never copied by Concat or Transpose', () => {
    const pastInputs = new Set<string>();
    for (let i = 0; i < BINDING_CONFIG.num_hidden_layers; i++) pastInputs.add(pastKey(i)).add(pastValue(i));
    const readers = [...model.nodes.values(), ...model.branchNodes].filter((n) => n.input.some((x) => pastInputs.has(x)));
    assert.ok(readers.length >= pastInputs.size);
    for (const n of readers) {
      assert.ok(['FusedMatMul', 'Shape'].includes(n.opType), `${n.name} (${n.opType}) reads the cache`);
      if (n.opType === 'FusedMatMul') assert.equal(n.attrs.transB!.i, 1, n.name);
    }
  });

  test('each layer picks how it reads the cached keys: streamed for a few new tokens, repacked for prompt chunks', () => {
    for (let i = 0; i < BINDING_CONFIG.num_hidden_layers; i++) {
      assert.equal(model.nodes.get(`layers.${i}.attn.scores.past`)?.opType, 'If');
      const branches = model.branchNodes.filter((n) => n.name.startsWith(`layers.${i}.attn.scores.past.`));
      assert.deepEqual(branches.find((n) => n.input[0] === pastKey(i))?.name, `layers.${i}.attn.scores.past.by_key`);
      assert.deepEqual(branches.find((n) => n.input[1] === pastKey(i))?.name, `layers.${i}.attn.scores.past.by_query`);
    }
    assert.equal(scalar(model, 'keys_streamed.max_tokens'), 16, '32 query rows of a group of 2');
  });

  test('constants come from config.json', () => {
    assert.equal(scalar(model, 'mask.sliding.window'), BINDING_CONFIG.sliding_window);
    assert.equal(scalar(model, 'layers.1.attn.scale'), Math.fround(BINDING_CONFIG.query_pre_attn_scalar ** -0.5));
    assert.equal(scalar(model, 'layers.2.attn.softcap.cap'), BINDING_CONFIG.attn_logit_softcapping);
    assert.equal(scalar(model, 'final_softcap.cap'), BINDING_CONFIG.final_logit_softcapping);
    assert.equal(scalar(model, 'embed.scale'), Math.fround(Math.sqrt(BINDING_CONFIG.hidden_size)));
  });

  test('final soft-cap is Div -> Tanh -> Mul feeding the logits', () => {
    const byName = model.nodes;
    const div = byName.get('final_softcap.div')!;
    const tanh = byName.get('final_softcap.tanh')!;
    const mul = byName.get('final_softcap.mul')!;
    assert.deepEqual([div.opType, tanh.opType, mul.opType], ['Div', 'Tanh', 'Mul']);
    assert.equal(div.input[0], 'lm_head');
    assert.equal(tanh.input[0], div.output[0]);
    assert.equal(mul.input[0], tanh.output[0]);
    assert.equal(byName.get('logits.batched')!.input[0], mul.output[0]);
  });

  test('one quantized vocabulary matrix serves the embedding and the lm_head', () => {
    const byName = model.nodes;
    assert.equal(byName.get('embed.lookup')!.opType, 'GatherBlockQuantized');
    assert.equal(byName.get('embed.packed')!.input[0], 'vocab.codes');
    assert.equal(byName.get('lm_head')!.opType, 'MatMulNBits');
    assert.equal(byName.get('lm_head')!.input[1], 'vocab.codes');
    const { attrs } = byName.get('layers.0.attn.qkv')!;
    assert.deepEqual([attrs.bits!.i, attrs.block_size!.i, attrs.accuracy_level!.i], [4, 32, 4]);
  });

  test('two stages: the first embeds and hands the residual stream entering layer 2 to the second, which holds the lm_head', async () => {
    const [first, second] = await Promise.all(['model-1-of-2.onnx', 'model-2-of-2.onnx'].map((f) => decodeModel(join(root, 'int4', f))));
    assert.deepEqual([...first!.inputs.keys()], [INPUT_IDS, POSITION_IDS, ...[0, 1].flatMap((i) => [pastKey(i), pastValue(i)])]);
    assert.deepEqual([...first!.outputs.keys()], [hiddenStates(2), ...[0, 1].flatMap((i) => [newKey(i), newValue(i)])]);
    assert.deepEqual([...second!.inputs.keys()], [hiddenStates(2), POSITION_IDS, LOGITS_TO_KEEP, ...[2, 3].flatMap((i) => [pastKey(i), pastValue(i)])]);
    assert.deepEqual([...second!.outputs.keys()], [LOGITS, ...[2, 3].flatMap((i) => [newKey(i), newValue(i)])]);
    assert.ok(first!.nodes.has('embed.lookup') && !first!.nodes.has('lm_head'));
    assert.ok(second!.nodes.has('lm_head') && !second!.nodes.has('embed.lookup'));
    assert.equal(second!.nodes.get('layers.2.input_norm')!.input[0], hiddenStates(2));
    // The vocabulary is stored once and both graphs read the same bytes; no two weights share bytes otherwise.
    assert.deepEqual(first!.initializers.get('vocab.codes')!.external, second!.initializers.get('vocab.codes')!.external);
    const ranges = new Map<string, string>();
    for (const t of [...first!.initializers.values(), ...second!.initializers.values()].filter((x) => x.external !== undefined)) {
      const at = `${t.external!.offset}+${t.external!.length}`;
      assert.equal(ranges.get(at) ?? t.name, t.name, `${t.name} and ${ranges.get(at)} at ${at}`);
      ranges.set(at, t.name);
    }
  });

  test('weights live in one external file at 4096-aligned offsets; norms store 1 + w', async () => {
    const external = [...model.initializers.values()].filter((t) => t.external !== undefined);
    assert.ok(external.length > 4 * BINDING_CONFIG.num_hidden_layers);
    for (const t of external) {
      assert.equal(t.external!.location, DATA_FILE);
      assert.equal(t.external!.offset % ALIGNMENT, 0, t.name);
    }
    const gamma = model.initializers.get('layers.3.post_feedforward_norm.weight')!.external!;
    const data = await open(join(root, 'int4', DATA_FILE));
    const bytes = Buffer.alloc(gamma.length);
    await data.read(bytes, 0, bytes.length, gamma.offset);
    await data.close();
    const checkpoint = await openCheckpoint(await bindingCheckpoint());
    const w = await checkpoint.rows(normWeight(3, 'post_feedforward_layernorm'), 0, BINDING_CONFIG.hidden_size);
    await checkpoint.close();
    const stored = new Float32Array(bytes.buffer, bytes.byteOffset, w.length);
    assert.deepEqual([...stored], [...w].map((v) => Math.fround(1 + v)));
  });
});

describe('a config without soft-capping (caps null) exports without cap nodes and still matches', () => {
  let root: string;
  after(() => rm(root, { recursive: true, force: true }));

  test('no softcap nodes; fp32 logits match the reference', async () => {
    const config = { ...BINDING_CONFIG, attn_logit_softcapping: null, final_logit_softcapping: null };
    const checkpoint = await checkpointFor('uncapped', config, { ...BINDING_OPTIONS, shards: 1 });
    root = await tempDir('uncapped');
    const model = await exported(checkpoint, join(root, 'fp32'), { ...int4, precision: 'fp32' });
    assert.ok(![...model.nodes.keys()].some((name) => name.includes('softcap')));
    const { spec, weights } = await loadReferenceWeights(checkpoint);
    const want = referenceForward(spec.config, weights, PROMPT).logits;
    const session = await loadSession(join(root, 'fp32'));
    const got = await promptLogits(session, spec, PROMPT);
    await session.release();
    const e = logitError(got, want);
    assert.ok(e.maxAbs / e.range < 1e-4, `relative error ${e.maxAbs / e.range}`);
  });
});
