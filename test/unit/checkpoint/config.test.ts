import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_LIMITS, deriveSpec, parseConfig, type Gemma2Config } from '../../../src/checkpoint/config.js';
import { GemmaError } from '../../../src/util/errors.js';
import { BINDING_CONFIG } from '../../helpers/models.js';

type Json = Record<string, unknown>;

/** The published google/gemma-2-2b config.json. */
const GEMMA2_2B: Json = {
  architectures: ['Gemma2ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: 50.0,
  bos_token_id: 2,
  cache_implementation: 'hybrid',
  eos_token_id: 1,
  final_logit_softcapping: 30.0,
  head_dim: 256,
  hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 2304,
  initializer_range: 0.02,
  intermediate_size: 9216,
  max_position_embeddings: 8192,
  model_type: 'gemma2',
  num_attention_heads: 8,
  num_hidden_layers: 26,
  num_key_value_heads: 4,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  sliding_window: 4096,
  torch_dtype: 'float32',
  transformers_version: '4.42.4',
  use_cache: true,
  vocab_size: 256000,
};

/** The published google/gemma-2-9b config.json (query_pre_attn_scalar 256, not the conversion script's 224). */
const GEMMA2_9B: Json = {
  ...GEMMA2_2B,
  head_dim: 256,
  hidden_size: 3584,
  intermediate_size: 14336,
  num_attention_heads: 16,
  num_hidden_layers: 42,
  num_key_value_heads: 8,
  query_pre_attn_scalar: 256,
  sliding_window_size: 4096,
  transformers_version: '4.42.0.dev0',
};

/** The published google/gemma-2-27b config.json (query_pre_attn_scalar 144 = 4608 / 32). */
const GEMMA2_27B: Json = {
  ...GEMMA2_2B,
  head_dim: 128,
  hidden_size: 4608,
  intermediate_size: 36864,
  num_attention_heads: 32,
  num_hidden_layers: 46,
  num_key_value_heads: 16,
  query_pre_attn_scalar: 144,
  sliding_window_size: 4096,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.0.dev0',
};

function without(raw: Json, key: string): Json {
  const copy = { ...raw };
  delete copy[key];
  return copy;
}

/** Asserts parseConfig throws a one-line GemmaError whose message matches every pattern. */
function rejects(raw: unknown, ...patterns: RegExp[]): void {
  assert.throws(() => parseConfig(raw), (err: unknown) => {
    assert.ok(err instanceof GemmaError, `expected GemmaError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

const evenLayers = (n: number): boolean[] => Array.from({ length: n }, (_, i) => i % 2 === 0);

test('gemma-2-2b config parses with the published values', () => {
  const spec = parseConfig(GEMMA2_2B);
  const c = spec.config;
  assert.equal(c.model_type, 'gemma2');
  assert.equal(c.hidden_size, 2304);
  assert.equal(c.num_hidden_layers, 26);
  assert.equal(c.vocab_size, 256000);
  assert.equal(c.query_pre_attn_scalar, 256);
  assert.equal(c.sliding_window, 4096);
  assert.equal(c.attn_logit_softcapping, 50);
  assert.equal(c.final_logit_softcapping, 30);
  assert.equal(c.rms_norm_eps, 1e-6);
  assert.equal(c.rope_theta, 10000);
  assert.equal(c.max_position_embeddings, 8192);
  assert.deepEqual([c.bos_token_id, c.eos_token_id, c.pad_token_id], [2, 1, 0]);
  assert.equal(spec.qDim, 2048);
  assert.equal(spec.kvDim, 1024);
  assert.equal(spec.attnScale, 0.0625);
  assert.equal(spec.embedScale, 48);
  assert.deepEqual(spec.isSliding, evenLayers(26));
});

test('gemma-2-9b config parses: query_pre_attn_scalar 256, extra fields ignored', () => {
  const spec = parseConfig(GEMMA2_9B);
  assert.equal(spec.config.query_pre_attn_scalar, 256);
  assert.equal(spec.attnScale, 0.0625);
  assert.equal(spec.qDim, 4096);
  assert.equal(spec.kvDim, 2048);
  assert.equal(spec.config.intermediate_size, 14336);
  assert.equal(spec.embedScale, Math.fround(Math.sqrt(3584)));
  assert.equal(spec.embedScale, 59.866519927978516);
  assert.deepEqual(spec.isSliding, evenLayers(42));
  assert.equal((spec.config as unknown as Json).sliding_window_size, undefined, 'unknown fields are not copied into the config');
});

test('gemma-2-27b config parses: query_pre_attn_scalar 144 ≠ head_dim', () => {
  const spec = parseConfig(GEMMA2_27B);
  assert.equal(spec.config.query_pre_attn_scalar, 144);
  assert.equal(spec.config.head_dim, 128);
  assert.ok(Math.abs(spec.attnScale - 1 / 12) < 1e-15);
  assert.equal(spec.qDim, 4096);
  assert.equal(spec.kvDim, 2048);
  assert.equal(spec.embedScale, Math.fround(Math.sqrt(4608)));
  assert.notEqual(spec.embedScale, Math.sqrt(4608), 'embedScale is rounded to fp32');
  assert.deepEqual(spec.isSliding, evenLayers(46));
  assert.equal(spec.isSliding[0], true);
  assert.equal(spec.isSliding[45], false);
});

test('every size is bounded before anything is allocated from it; each bound holds the published models', () => {
  for (const [key, limit] of Object.entries(CONFIG_LIMITS)) {
    for (const published of [GEMMA2_2B, GEMMA2_9B, GEMMA2_27B]) assert.ok((published[key] as number) * 4 <= limit, `${key} leaves room above the published models`);
    rejects({ ...GEMMA2_2B, [key]: limit + 1 }, new RegExp(`'${key}' is ${limit + 1}, above the ${limit} `), /correct it in config\.json/);
    rejects({ ...GEMMA2_2B, [key]: 1e15 }, new RegExp(`'${key}' is 1000000000000000, above`));
  }
  assert.equal(parseConfig({ ...GEMMA2_2B, max_position_embeddings: CONFIG_LIMITS.max_position_embeddings }).config.max_position_embeddings, CONFIG_LIMITS.max_position_embeddings);
});

test('special token ids must lie inside the vocabulary', () => {
  rejects({ ...GEMMA2_2B, eos_token_id: [1, 256000] }, /'eos_token_id' 256000 is outside the vocabulary \(vocab_size 256000\)/);
  rejects({ ...GEMMA2_2B, bos_token_id: 1e9 }, /'bos_token_id' 1000000000 is outside/);
  rejects({ ...GEMMA2_2B, pad_token_id: 256001 }, /'pad_token_id'/);
});

test('architectures alone identifies Gemma 2; eos may be a list', () => {
  const spec = parseConfig({ ...without(GEMMA2_2B, 'model_type'), eos_token_id: [1, 107] });
  assert.equal(spec.config.model_type, 'gemma2');
  assert.deepEqual(spec.config.eos_token_id, [1, 107]);
});

test('token ids default to 2 / 1 / 0 when absent', () => {
  const raw = without(without(without(GEMMA2_2B, 'bos_token_id'), 'eos_token_id'), 'pad_token_id');
  const c = parseConfig(raw).config;
  assert.deepEqual([c.bos_token_id, c.eos_token_id, c.pad_token_id], [2, 1, 0]);
});

test('layer_types overrides layer parity', () => {
  const layerTypes = ['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention'];
  const spec = parseConfig({ ...GEMMA2_2B, num_hidden_layers: 4, layer_types: layerTypes });
  assert.deepEqual(spec.isSliding, [false, true, true, false]);
  const nullTypes = parseConfig({ ...GEMMA2_2B, num_hidden_layers: 3, layer_types: null });
  assert.deepEqual(nullTypes.isSliding, [true, false, true]);
});

test('bad layer_types are rejected', () => {
  rejects({ ...GEMMA2_2B, num_hidden_layers: 2, layer_types: ['sliding_attention'] }, /layer_types/, /2 entries/);
  rejects({ ...GEMMA2_2B, num_hidden_layers: 2, layer_types: ['sliding_attention', 'chunked'] }, /layer_types\[1\]/, /chunked/);
});

test('null soft-capping stays null; absent caps are null too', () => {
  const spec = parseConfig({ ...GEMMA2_2B, attn_logit_softcapping: null, final_logit_softcapping: null });
  assert.equal(spec.config.attn_logit_softcapping, null);
  assert.equal(spec.config.final_logit_softcapping, null);
  assert.equal(parseConfig(without(GEMMA2_2B, 'attn_logit_softcapping')).config.attn_logit_softcapping, null);
  rejects({ ...GEMMA2_2B, final_logit_softcapping: 0 }, /final_logit_softcapping/, /found 0/);
  rejects({ ...GEMMA2_2B, attn_logit_softcapping: '50' }, /attn_logit_softcapping/, /"50"/);
});

test('embedScale is fround(sqrt(hidden_size))', () => {
  for (const hidden of [2304, 3584, 4608, 32, 256, 1000]) {
    const spec = parseConfig({ ...GEMMA2_2B, hidden_size: hidden });
    assert.equal(spec.embedScale, Math.fround(Math.sqrt(hidden)), `hidden ${hidden}`);
  }
});

test('deriveSpec on the binding config', () => {
  const spec = deriveSpec(BINDING_CONFIG, [true, false, true, false]);
  assert.equal(spec.qDim, 256);
  assert.equal(spec.kvDim, 128);
  assert.equal(spec.attnScale, 48 ** -0.5);
  assert.equal(spec.embedScale, 16);
  const odd: Gemma2Config = { ...BINDING_CONFIG, head_dim: 63 };
  assert.throws(() => deriveSpec(odd, []), (err: unknown) => err instanceof GemmaError && /head_dim 63/.test(err.message));
});

test('Gemma 1 is rejected, naming what was found', () => {
  rejects({ ...GEMMA2_2B, model_type: 'gemma', architectures: ['GemmaForCausalLM'] }, /Gemma 1/, /model_type 'gemma'/, /GemmaForCausalLM/, /gemma2/);
});

test('Gemma 3 is rejected (gemma3 and gemma3_text)', () => {
  rejects({ ...GEMMA2_2B, model_type: 'gemma3', architectures: ['Gemma3ForConditionalGeneration'] }, /Gemma 3/, /model_type 'gemma3'/, /Gemma3ForConditionalGeneration/);
  rejects({ ...GEMMA2_2B, model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'] }, /Gemma 3/, /model_type 'gemma3_text'/);
});

test('Llama and unknown models are rejected', () => {
  rejects({ model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 4096 }, /Llama/, /model_type 'llama'/, /LlamaForCausalLM/);
  rejects({ model_type: 'bert' }, /unsupported architecture/, /model_type 'bert'/);
  // A Gemma 2 architecture list does not override a different model_type.
  rejects({ ...GEMMA2_2B, model_type: 'llama' }, /Llama/);
});

test('missing model_type and architectures is rejected', () => {
  rejects(without(without(GEMMA2_2B, 'model_type'), 'architectures'), /no model_type/, /unsupported architecture/);
  rejects({ ...without(GEMMA2_2B, 'model_type'), architectures: ['LlamaForCausalLM'] }, /no model_type/, /LlamaForCausalLM/);
});

test('non-object configs are rejected', () => {
  for (const raw of [null, 42, 'gemma2', [GEMMA2_2B]]) rejects(raw, /not a JSON object/);
});

test('missing required fields are rejected by name', () => {
  for (const key of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'query_pre_attn_scalar', 'sliding_window', 'rope_theta', 'rms_norm_eps', 'max_position_embeddings']) {
    rejects(without(GEMMA2_2B, key), new RegExp(`'${key}'`));
  }
});

test('invalid field values are rejected, quoting what was found', () => {
  rejects({ ...GEMMA2_2B, hidden_size: '2304' }, /'hidden_size' must be a positive integer/, /found "2304"/);
  rejects({ ...GEMMA2_2B, hidden_size: 2304.5 }, /'hidden_size'/, /2304\.5/);
  rejects({ ...GEMMA2_2B, num_hidden_layers: 0 }, /'num_hidden_layers'/, /found 0/);
  rejects({ ...GEMMA2_2B, vocab_size: -1 }, /'vocab_size'/, /found -1/);
  rejects({ ...GEMMA2_2B, rms_norm_eps: -1e-6 }, /'rms_norm_eps' must be a positive number/, /-0\.000001|-1e-6/);
  rejects({ ...GEMMA2_2B, rms_norm_eps: 0 }, /'rms_norm_eps'/);
  rejects({ ...GEMMA2_2B, rope_theta: null }, /'rope_theta'/);
  rejects({ ...GEMMA2_2B, query_pre_attn_scalar: 'auto' }, /'query_pre_attn_scalar'/, /"auto"/);
  rejects({ ...GEMMA2_2B, bos_token_id: -2 }, /'bos_token_id'/);
  rejects({ ...GEMMA2_2B, eos_token_id: [] }, /'eos_token_id'/);
  rejects({ ...GEMMA2_2B, eos_token_id: [1, 'x'] }, /'eos_token_id'/);
});

test('rope_scaling is rejected; null rope_scaling is accepted', () => {
  rejects({ ...GEMMA2_2B, rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling/);
  assert.equal(parseConfig({ ...GEMMA2_2B, rope_scaling: null }).config.hidden_size, 2304);
});

test('hidden_activation other than gelu_pytorch_tanh is rejected', () => {
  rejects({ ...GEMMA2_2B, hidden_activation: 'gelu' }, /hidden_activation 'gelu'/, /gelu_pytorch_tanh/);
  rejects({ ...without(GEMMA2_2B, 'hidden_activation'), hidden_act: 'silu' }, /'silu'/);
  // hidden_activation takes precedence over the legacy hidden_act.
  assert.equal(parseConfig({ ...GEMMA2_2B, hidden_act: 'gelu' }).config.hidden_activation, 'gelu_pytorch_tanh');
});

test('attention_bias true and untied embeddings are rejected', () => {
  rejects({ ...GEMMA2_2B, attention_bias: true }, /attention_bias/);
  rejects({ ...GEMMA2_2B, tie_word_embeddings: false }, /tie_word_embeddings/);
});

test('num_attention_heads not a multiple of num_key_value_heads is rejected', () => {
  rejects({ ...GEMMA2_2B, num_attention_heads: 8, num_key_value_heads: 3 }, /num_attention_heads 8/, /num_key_value_heads 3/);
});

test('a model_type named like an Object.prototype member is reported as found', () => {
  for (const type of ['constructor', 'toString']) {
    assert.throws(() => parseConfig({ model_type: type }), (err: unknown) => {
      assert.ok(err instanceof GemmaError);
      assert.match(err.message, new RegExp(`model_type '${type}'`));
      assert.doesNotMatch(err.message, /native code|function/);
      return true;
    });
  }
});
