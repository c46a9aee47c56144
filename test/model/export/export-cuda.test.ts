import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { newKey, pastKey } from '../../../src/onnx/io-names.js';
import { DataType } from '../../../src/onnx/proto.js';
import { exportModel } from '../../../src/export/export.js';
import { ATTENTION_KERNELS, type WeightFormat } from '../../../src/quantize/precision.js';
import type { Engine } from '../../../src/runtime/engine.js';
import { loadEngine } from '../../../src/runtime/runtime.js';
import { logitError, type LogitError } from '../../helpers/logit-error.js';
import { BINDING_CONFIG, bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';
import { decodeExport, type DecodedModel } from '../../helpers/onnx-model.js';
import { loadReferenceWeights } from '../../helpers/reference-weights.js';
import { referenceForward } from '../../reference/gemma2-reference.js';

const opsCuda: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cuda', attention: 'ops' };
const { float16, float32 } = DataType;

/** The CUDA graph run by the CPU EP (onnxruntime casts fp16 ops it has no CPU kernel for), through the runtime's fp16 cache. */
async function engineLogits(engine: Engine, chunk: number): Promise<Float32Array[]> {
  engine.rollback(0);
  const out: Float32Array[] = [];
  for (let at = 0; at < PROMPT.length; at += chunk) out.push(...(await engine.feed(PROMPT.slice(at, at + chunk), true)).map((l) => l.slice()));
  return out;
}

for (const attention of ATTENTION_KERNELS) describe(`the CUDA graph (${attention} attention): fp16 attention, KV cache and linear layers around an fp32 residual stream`, () => {
  const cuda: WeightFormat = { ...opsCuda, attention };
  const cpuTwin: WeightFormat = { ...cuda, ep: 'cpu' };
  let root: string;
  let graph: DecodedModel;
  let model: Engine;
  let twin: Engine;
  let reference: Float64Array[];

  before(async () => {
    const checkpoint = await bindingCheckpoint();
    root = await tempDir('cuda-graph');
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, 'cuda'), format: cuda, label: 'binding' });
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, 'cpu'), format: cpuTwin, label: 'binding' });
    graph = await decodeExport(join(root, 'cuda'));
    model = await loadEngine(join(root, 'cuda'), { threads: 1, ep: 'cpu', ctxSize: 64 });
    twin = await loadEngine(join(root, 'cpu'), { threads: 1, ctxSize: 64 });
    const { spec, weights } = await loadReferenceWeights(checkpoint);
    reference = referenceForward(spec.config, weights, PROMPT).logits;
  });
  after(async () => {
    await model?.close();
    await twin?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('the manifest records the EP; KV inputs and outputs are fp16, logits fp32', () => {
    assert.equal(model.manifest.ep, 'cuda');
    assert.equal(graph.inputs.get(pastKey(0)), float16);
    assert.equal(graph.outputs.get(newKey(1)), float16);
    assert.equal(graph.outputs.get('logits'), float32);
  });

  if (attention === 'ops') {
    test('the cached keys are read directly, without the CPU graph\'s If (cuBLAS repacks nothing)', () => {
      assert.equal(graph.nodes.get('layers.0.attn.scores.past')?.opType, 'FusedMatMul');
      assert.equal([...graph.nodes.values()].filter((n) => n.opType === 'If').length, 0);
    });
  }

  if (attention === 'gqa') {
    test('one GroupQueryAttention per layer: soft-cap from config.json, window on even layers only, scale query_pre_attn_scalar^-0.5, rotary inside', () => {
      const c = BINDING_CONFIG;
      const fused = [...graph.nodes.values()].filter((n) => n.opType === 'GroupQueryAttention');
      assert.equal(fused.length, c.num_hidden_layers);
      for (let i = 0; i < c.num_hidden_layers; i++) {
        const a = graph.nodes.get(`layers.${i}.attn.gqa`)!.attrs;
        assert.equal(Math.fround(a.softcap!.f), Math.fround(c.attn_logit_softcapping!));
        assert.equal(a.local_window_size!.i, i % 2 === 0 ? c.sliding_window : -1, `layer ${i}`);
        assert.equal(a.scale!.f, Math.fround(c.query_pre_attn_scalar ** -0.5));
        assert.deepEqual([a.num_heads!.i, a.kv_num_heads!.i, a.do_rotary!.i, a.rotary_interleaved!.i], [c.num_attention_heads, c.num_key_value_heads, 1, 0]);
      }
      const kinds = new Set([...graph.nodes.values()].map((n) => n.opType));
      for (const gone of ['Softmax', 'RotaryEmbedding', 'Where', 'If']) assert.ok(!kinds.has(gone), `${gone} left in the graph`);
    });
  }

  test('every norm reads fp32: sub-layers are cast to fp16 on the way in and back to fp32 on the way out', () => {
    const castTo = (name: string): number | undefined => (graph.nodes.get(name)?.opType === 'Cast' ? graph.nodes.get(name)!.attrs.to!.i : undefined);
    for (let i = 0; i < BINDING_CONFIG.num_hidden_layers; i++) {
      const p = `layers.${i}`;
      assert.equal(castTo(`${p}.attn_in`), float16);
      assert.equal(castTo(`${p}.mlp_in`), float16);
      assert.deepEqual(graph.nodes.get(`${p}.post_attention_norm`)!.input[0], castTo(`${p}.attn_out`) === float32 ? `${p}.attn_out` : 'missing cast');
      assert.deepEqual(graph.nodes.get(`${p}.post_feedforward_norm`)!.input[0], castTo(`${p}.mlp_out`) === float32 ? `${p}.mlp_out` : 'missing cast');
      const inputNorm = graph.nodes.get(`${p}.input_norm`)!;
      if (i === 0) assert.deepEqual([inputNorm.opType, inputNorm.input[0]], ['SimplifiedLayerNormalization', 'embed.scaled']);
      else assert.deepEqual([inputNorm.opType, ...inputNorm.input.slice(0, 2)], ['SkipSimplifiedLayerNormalization', `layers.${i - 1}.post_feedforward_norm`, `layers.${i - 1}.pre_feedforward_norm.sum`]);
      const preFeedForward = graph.nodes.get(`${p}.pre_feedforward_norm`)!;
      assert.deepEqual([preFeedForward.opType, preFeedForward.input[0]], ['SkipSimplifiedLayerNormalization', `${p}.post_attention_norm`], 'the residual add is the norm\'s');
    }
    assert.equal([...graph.nodes.values()].filter((n) => n.opType === 'Add' && n.name.includes('residual')).length, 0);
    assert.equal(castTo('embed.rows'), float32);
    assert.equal(castTo('lm_head.out'), float32);
    assert.equal(graph.nodes.get('final_softcap.div')!.input[0], 'lm_head.out');
  });

  test('both soft-caps are there: attention in fp16, final in fp32; scales and rotary caches are fp16', () => {
    if (attention === 'ops') {
      const cap = graph.initializers.get('layers.0.attn.softcap.cap')!;
      assert.equal(cap.dataType, float16);
      assert.equal(cap.values[0], BINDING_CONFIG.attn_logit_softcapping);
      assert.equal(graph.initializers.get('layers.0.attn.masked_value')!.values[0], -Infinity);
    }
    assert.equal(graph.initializers.get('final_softcap.cap')!.dataType, float32);
    assert.equal(graph.initializers.get('layers.0.attn.qkv.scales')!.dataType, float16);
    assert.equal(graph.initializers.get('rope.cos_cache')!.dataType, float16);
    assert.equal(graph.nodes.get('layers.0.attn.qkv')!.attrs.accuracy_level!.i, 0);
  });

  describe('numerics (measured on the CPU EP; docs/cuda.md)', () => {
    let whole: LogitError;
    let vsTwin: LogitError;
    let stepwise: LogitError;

    before(async () => {
      const logits = await engineLogits(model, PROMPT.length);
      whole = logitError(logits, reference);
      vsTwin = logitError(logits, (await engineLogits(twin, PROMPT.length)).map((l) => Float64Array.from(l)));
      stepwise = logitError(await engineLogits(model, 1), logits.map((l) => Float64Array.from(l)));
    });

    test('against the float64 reference it stays within the int4 CPU bounds', (t) => {
      t.diagnostic(`vs reference: max ${whole.maxAbs.toFixed(3)} mean ${whole.meanAbs.toFixed(4)} top-1 ${whole.top1.toFixed(3)}`);
      assert.ok(whole.maxAbs < 4.5 && whole.meanAbs < 0.75, `max ${whole.maxAbs} mean ${whole.meanAbs}`);
      assert.ok(whole.top1 >= 1 - 1 / PROMPT.length, `top-1 ${whole.top1}`);
    });

    test('fp16 adds little to the same int4 weights computed in fp32', (t) => {
      t.diagnostic(`vs int4 fp32 twin: max ${vsTwin.maxAbs.toFixed(4)} mean ${vsTwin.meanAbs.toFixed(5)}`);
      assert.ok(vsTwin.maxAbs < 0.1 && vsTwin.meanAbs < 0.01, `max ${vsTwin.maxAbs} mean ${vsTwin.meanAbs}`);
    });

    test('token by token through the fp16 cache (past the window of 8) equals the whole prompt at once', (t) => {
      t.diagnostic(`stepwise vs whole: max ${stepwise.maxAbs.toExponential(2)}`);
      assert.ok(stepwise.maxAbs < 0.05, `max ${stepwise.maxAbs}`);
      assert.equal(stepwise.top1, 1);
    });
  });
});
