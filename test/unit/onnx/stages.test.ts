import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, type Gemma2Config } from '../../../src/checkpoint/config.js';
import { defaultStages, planStages } from '../../../src/onnx/stages.js';
import { BINDING_CONFIG, REAL_VOCAB_CONFIG } from '../../helpers/models.js';

/** Gemma 2 2B's shapes. */
const GEMMA_2_2B: Gemma2Config = {
  ...BINDING_CONFIG, vocab_size: 256000, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26,
  num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, query_pre_attn_scalar: 256,
};

test('one stage is the whole model in model.onnx', () => {
  assert.deepEqual(planStages(parseConfig(BINDING_CONFIG), 1), [{ file: 'model.onnx', layers: [0, 4] }]);
});

test('two stages of the 2B split where the weights balance, the vocabulary counted with the lm_head', () => {
  const plan = planStages(parseConfig(GEMMA_2_2B), 2);
  assert.deepEqual(plan, [{ file: 'model-1-of-2.onnx', layers: [0, 17] }, { file: 'model-2-of-2.onnx', layers: [17, 26] }]);
});

test('every stage keeps at least one layer, in order, covering all of them', () => {
  for (const config of [BINDING_CONFIG, REAL_VOCAB_CONFIG, GEMMA_2_2B]) {
    const spec = parseConfig(config);
    const layers = config.num_hidden_layers;
    for (let count = 1; count <= layers; count++) {
      const plan = planStages(spec, count);
      assert.equal(plan.length, count);
      assert.equal(plan[0]!.layers[0], 0);
      assert.equal(plan.at(-1)!.layers[1], layers);
      plan.forEach((s, i) => {
        assert.ok(s.layers[1] > s.layers[0], `${config.num_hidden_layers} layers in ${count}: stage ${i}`);
        if (i > 0) assert.equal(s.layers[0], plan[i - 1]!.layers[1]);
      });
    }
  }
  // The real vocabulary outweighs two tiny layers: the lm_head's stage still gets one.
  assert.deepEqual(planStages(parseConfig(REAL_VOCAB_CONFIG), 2).map((s) => s.layers), [[0, 1], [1, 2]]);
});

test('a count outside 1 … layers is refused', () => {
  for (const count of [0, 5, 1.5]) assert.throws(() => planStages(parseConfig(BINDING_CONFIG), count), /must be from 1 to 4/);
});

test('two graphs on the CPU, one on CUDA', () => {
  assert.deepEqual([defaultStages('cpu'), defaultStages('cuda')], [2, 1]);
});
