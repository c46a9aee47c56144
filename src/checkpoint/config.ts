import { GemmaError } from '../util/errors.js';

/**
 * The fields of a Hugging Face Gemma 2 `config.json` that decide the forward pass,
 * under Hugging Face's own key names.
 */
export interface Gemma2Config {
  model_type: 'gemma2';
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  query_pre_attn_scalar: number;
  sliding_window: number;
  /** `null` in config.json means no soft-capping (Hugging Face skips the tanh). */
  attn_logit_softcapping: number | null;
  final_logit_softcapping: number | null;
  rope_theta: number;
  rms_norm_eps: number;
  max_position_embeddings: number;
  hidden_activation: 'gelu_pytorch_tanh';
  bos_token_id: number;
  eos_token_id: number | number[];
  pad_token_id: number;
}

/** Everything the converter and runtime need, derived once from the config. */
export interface ModelSpec {
  config: Gemma2Config;
  /** `isSliding[i]`: layer i attends to the last `sliding_window` keys only. */
  isSliding: boolean[];
  /** sqrt(hidden_size) rounded to fp32, the compute dtype of the exported graph. */
  embedScale: number;
  /** query_pre_attn_scalar^-0.5 */
  attnScale: number;
  qDim: number;
  kvDim: number;
}

const KNOWN_ARCHITECTURES: Record<string, string> = {
  gemma: 'Gemma 1',
  gemma3: 'Gemma 3',
  gemma3_text: 'Gemma 3',
  gemma3n: 'Gemma 3n',
  recurrent_gemma: 'RecurrentGemma',
  llama: 'Llama',
  mistral: 'Mistral',
  qwen2: 'Qwen 2',
};

type Json = Record<string, unknown>;

function describeArchitecture(raw: Json): string {
  const type = typeof raw.model_type === 'string' ? raw.model_type : undefined;
  const arch = Array.isArray(raw.architectures) ? raw.architectures.join(', ') : undefined;
  const family = type !== undefined && Object.hasOwn(KNOWN_ARCHITECTURES, type) ? KNOWN_ARCHITECTURES[type] : undefined;
  const parts = [
    type !== undefined ? `model_type '${type}'` : 'no model_type',
    arch !== undefined ? `architectures [${arch}]` : undefined,
  ].filter(Boolean);
  return family !== undefined ? `${family} (${parts.join(', ')})` : parts.join(', ');
}

function isGemma2(raw: Json): boolean {
  if (raw.model_type === 'gemma2') return true;
  return raw.model_type === undefined && Array.isArray(raw.architectures) && raw.architectures.includes('Gemma2ForCausalLM');
}

/**
 * Upper bounds on the sizes config.json gives, checked before anything is allocated from them: a mistyped or
 * hostile value (num_hidden_layers 1e9) would otherwise build arrays of that length and abort V8. Each bound is
 * far above every published Gemma 2 (the 2B, 9B and 27B values are in the comments).
 */
export const CONFIG_LIMITS = {
  vocab_size: 1 << 20, // 256000
  hidden_size: 1 << 16, // 2304 to 4608
  intermediate_size: 1 << 18, // 9216 to 36864
  num_hidden_layers: 512, // 26 to 46
  num_attention_heads: 1024, // 8 to 32
  num_key_value_heads: 1024, // 4 to 16
  head_dim: 1024, // 128 or 256
  // The export stores a rotary table of max_position_embeddings × head_dim / 2 per sin and cos: 256 MB at these bounds.
  max_position_embeddings: 1 << 17, // 8192
  sliding_window: 1 << 17, // 4096
} as const;

type SizeKey = keyof typeof CONFIG_LIMITS;

function size(raw: Json, key: SizeKey): number {
  const v = positiveInt(raw, key);
  const limit = CONFIG_LIMITS[key];
  if (v > limit) {
    throw new GemmaError(`config.json: '${key}' is ${v}, above the ${limit} gemma accepts for a Gemma 2 model: correct it in config.json (or convert the original checkpoint)`);
  }
  return v;
}

function positiveInt(raw: Json, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new GemmaError(`config.json: '${key}' must be a positive integer, found ${JSON.stringify(raw[key])}`);
  }
  return v;
}

function positiveNumber(raw: Json, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new GemmaError(`config.json: '${key}' must be a positive number, found ${JSON.stringify(raw[key])}`);
  }
  return v;
}

function optionalCap(raw: Json, key: string): number | null {
  const v = raw[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new GemmaError(`config.json: '${key}' must be a positive number or null, found ${JSON.stringify(v)}`);
  }
  return v;
}

const isTokenId = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

function tokenId(raw: Json, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (isTokenId(v)) return v;
  throw new GemmaError(`config.json: '${key}' must be a token id, found ${JSON.stringify(v)}`);
}

function tokenIds(raw: Json, key: string, fallback: number): number | number[] {
  const v = raw[key] ?? fallback;
  if (isTokenId(v) || (Array.isArray(v) && v.length > 0 && v.every(isTokenId))) return v as number | number[];
  throw new GemmaError(`config.json: '${key}' must be a token id or a list of them, found ${JSON.stringify(v)}`);
}

/** Special token ids index the vocabulary, so each must lie inside it. */
function checkTokenIds(config: Gemma2Config): void {
  const ids: [string, number][] = [['bos_token_id', config.bos_token_id], ['pad_token_id', config.pad_token_id], ...[config.eos_token_id].flat().map((id): [string, number] => ['eos_token_id', id])];
  for (const [key, id] of ids) {
    if (id >= config.vocab_size) throw new GemmaError(`config.json: '${key}' ${id} is outside the vocabulary (vocab_size ${config.vocab_size})`);
  }
}

function rejectUnsupported(raw: Json): void {
  const activation = raw.hidden_activation ?? raw.hidden_act ?? 'gelu_pytorch_tanh';
  if (activation !== 'gelu_pytorch_tanh') {
    throw new GemmaError(`config.json: hidden_activation '${String(activation)}' is not supported (Gemma 2 uses gelu_pytorch_tanh)`);
  }
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null) {
    throw new GemmaError('config.json: rope_scaling is not supported for Gemma 2');
  }
  if (raw.attention_bias === true) {
    throw new GemmaError('config.json: attention_bias true is not supported (Gemma 2 projections have no biases)');
  }
  if (raw.tie_word_embeddings === false) {
    throw new GemmaError('config.json: tie_word_embeddings false is not supported (Gemma 2 ties lm_head to embed_tokens)');
  }
}

function slidingLayers(raw: Json, layers: number): boolean[] {
  const types = raw.layer_types;
  if (types === undefined || types === null) {
    return Array.from({ length: layers }, (_, i) => i % 2 === 0);
  }
  if (!Array.isArray(types) || types.length !== layers) {
    throw new GemmaError(`config.json: 'layer_types' must list ${layers} entries`);
  }
  return types.map((t, i) => {
    if (t === 'sliding_attention') return true;
    if (t === 'full_attention') return false;
    throw new GemmaError(`config.json: layer_types[${i}] '${String(t)}' is not sliding_attention or full_attention`);
  });
}

/** Validates a parsed config.json and derives the model spec. Throws GemmaError on anything but Gemma 2. */
export function parseConfig(raw: unknown): ModelSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GemmaError('config.json is not a JSON object');
  }
  const json = raw as Json;
  if (!isGemma2(json)) {
    throw new GemmaError(`unsupported architecture: config.json says ${describeArchitecture(json)}; only Gemma 2 (model_type 'gemma2') is supported`);
  }
  rejectUnsupported(json);
  const config: Gemma2Config = {
    model_type: 'gemma2',
    vocab_size: size(json, 'vocab_size'),
    hidden_size: size(json, 'hidden_size'),
    intermediate_size: size(json, 'intermediate_size'),
    num_hidden_layers: size(json, 'num_hidden_layers'),
    num_attention_heads: size(json, 'num_attention_heads'),
    num_key_value_heads: size(json, 'num_key_value_heads'),
    head_dim: size(json, 'head_dim'),
    query_pre_attn_scalar: positiveNumber(json, 'query_pre_attn_scalar'),
    sliding_window: size(json, 'sliding_window'),
    attn_logit_softcapping: optionalCap(json, 'attn_logit_softcapping'),
    final_logit_softcapping: optionalCap(json, 'final_logit_softcapping'),
    rope_theta: positiveNumber(json, 'rope_theta'),
    rms_norm_eps: positiveNumber(json, 'rms_norm_eps'),
    max_position_embeddings: size(json, 'max_position_embeddings'),
    hidden_activation: 'gelu_pytorch_tanh',
    bos_token_id: tokenId(json, 'bos_token_id', 2),
    eos_token_id: tokenIds(json, 'eos_token_id', 1),
    pad_token_id: tokenId(json, 'pad_token_id', 0),
  };
  checkTokenIds(config);
  return deriveSpec(config, slidingLayers(json, config.num_hidden_layers));
}

export function deriveSpec(config: Gemma2Config, isSliding: boolean[]): ModelSpec {
  const { num_attention_heads: nh, num_key_value_heads: kvh, head_dim: hd } = config;
  if (nh % kvh !== 0) {
    throw new GemmaError(`config.json: num_attention_heads ${nh} is not a multiple of num_key_value_heads ${kvh}`);
  }
  if (hd % 2 !== 0) throw new GemmaError(`config.json: head_dim ${hd} must be even for rotary embeddings`);
  return {
    config,
    isSliding,
    embedScale: Math.fround(Math.sqrt(config.hidden_size)),
    attnScale: config.query_pre_attn_scalar ** -0.5,
    qDim: nh * hd,
    kvDim: kvh * hd,
  };
}
