/**
 * Converts a Hugging Face Gemma 2 checkpoint folder to a llama.cpp GGUF (architecture "gemma2"), so llama.cpp can run
 * the very weights our ONNX export runs. Metadata keys, tensor names and the +1 on norm weights follow
 * convert_hf_to_gguf.py's Gemma2Model; per-tensor types follow what `llama-quantize <f16.gguf> Q4_0|Q8_0` picks:
 * 2-D weights in the file type, 1-D norms in F32, and the tied token_embd (it is also the output head) in the
 * "output" type: Q6_K for Q4_0, Q8_0 for Q8_0 (src/llama-quant.cpp, llama_tensor_get_type_impl).
 *
 *   node dist/bench/gguf-from-checkpoint.js <checkpoint-dir> --type q4_0|q8_0|f32 [--out file.gguf] [--embd-type q6_k|q8_0|q4_0|f16]
 *   node dist/bench/gguf-from-checkpoint.js --shape 27b [--seed 42] --type q4_0 --out file.gguf
 *
 * With --shape, the weights are generated as they are written, from the seed, without a checkpoint on disk: the
 * same weights as bench/convert-shaped.ts's export of that shape and seed (and as bench/shaped-checkpoint.ts's
 * checkpoint), so that a 27B peer needs room for the two converted files only, not for 54 GB of BF16 as well.
 */
import { rm } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openCheckpoint, type Checkpoint } from '../src/checkpoint/checkpoint.js';
import { openRandomSource } from '../src/checkpoint/random-source.js';
import { attnWeight, EMBED_TOKENS, FINAL_NORM, mlpWeight, normWeight, type LayerNorm } from '../src/checkpoint/tensor-names.js';
import { encodeRows, GgmlType, typeName, type GgmlTypeId } from './ggml-quants.js';
import { vocabMetadata } from './gguf-vocab.js';
import { tensorBytes, writeGguf, type MetaValue, type TensorPlan } from './gguf-writer.js';
import { prepareTokenizer, shapedOptions, SHAPES, type Shape } from './shaped-checkpoint.js';

export type FileType = 'q4_0' | 'q8_0' | 'f32';
const FILE_TYPE: Record<FileType, { weights: GgmlTypeId; embd: GgmlTypeId; ftype: number }> = {
  // llama_ftype ids: LLAMA_FTYPE_MOSTLY_Q4_0 = 2, LLAMA_FTYPE_MOSTLY_Q8_0 = 7, LLAMA_FTYPE_ALL_F32 = 0.
  q4_0: { weights: GgmlType.Q4_0, embd: GgmlType.Q6_K, ftype: 2 },
  q8_0: { weights: GgmlType.Q8_0, embd: GgmlType.Q8_0, ftype: 7 },
  // Unquantized, for checking that the GGUF computes the same function as our fp32 ONNX export.
  f32: { weights: GgmlType.F32, embd: GgmlType.F32, ftype: 0 },
};
const EMBD_TYPES: Record<string, GgmlTypeId> = { q6_k: GgmlType.Q6_K, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0, f16: GgmlType.F16 };

/** llama.cpp tensor name → (HF name, whether it is a Gemma (1 + w) norm). */
interface Source {
  hf: string;
  norm: boolean;
}

const NORM_NAMES: Array<[LayerNorm, string]> = [
  ['input_layernorm', 'attn_norm'],
  ['post_attention_layernorm', 'post_attention_norm'],
  ['pre_feedforward_layernorm', 'ffn_norm'],
  ['post_feedforward_layernorm', 'post_ffw_norm'],
];

function plan(ckpt: Checkpoint, weights: GgmlTypeId, embd: GgmlTypeId): Array<TensorPlan & Source> {
  const out: Array<TensorPlan & Source> = [];
  const add = (name: string, hf: string, type: GgmlTypeId, norm = false): void => {
    out.push({ name, hf, norm, type, shape: ckpt.shape(hf) });
  };
  // No output.weight: llama.cpp falls back to token_embd for the head, as Gemma ties them.
  add('token_embd.weight', EMBED_TOKENS, embd);
  for (let i = 0; i < ckpt.spec.config.num_hidden_layers; i++) {
    const b = `blk.${i}`;
    add(`${b}.attn_q.weight`, attnWeight(i, 'q_proj'), weights);
    add(`${b}.attn_k.weight`, attnWeight(i, 'k_proj'), weights);
    add(`${b}.attn_v.weight`, attnWeight(i, 'v_proj'), weights);
    add(`${b}.attn_output.weight`, attnWeight(i, 'o_proj'), weights);
    add(`${b}.ffn_gate.weight`, mlpWeight(i, 'gate_proj'), weights);
    add(`${b}.ffn_up.weight`, mlpWeight(i, 'up_proj'), weights);
    add(`${b}.ffn_down.weight`, mlpWeight(i, 'down_proj'), weights);
    for (const [hf, name] of NORM_NAMES) add(`${b}.${name}.weight`, normWeight(i, hf), GgmlType.F32, true);
  }
  add('output_norm.weight', FINAL_NORM, GgmlType.F32, true);
  return out;
}

function architectureMetadata(ckpt: Checkpoint, name: string, ftype: number): Array<[string, MetaValue]> {
  const c = ckpt.spec.config;
  const u32 = (value: number): MetaValue => ({ type: 'u32', value });
  const f32 = (value: number): MetaValue => ({ type: 'f32', value });
  const meta: Array<[string, MetaValue]> = [
    ['general.architecture', { type: 'string', value: 'gemma2' }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', u32(ftype)],
    ['general.quantization_version', u32(2)],
    ['gemma2.context_length', u32(c.max_position_embeddings)],
    ['gemma2.embedding_length', u32(c.hidden_size)],
    ['gemma2.block_count', u32(c.num_hidden_layers)],
    ['gemma2.feed_forward_length', u32(c.intermediate_size)],
    ['gemma2.attention.head_count', u32(c.num_attention_heads)],
    ['gemma2.attention.head_count_kv', u32(c.num_key_value_heads)],
    ['gemma2.attention.layer_norm_rms_epsilon', f32(c.rms_norm_eps)],
    ['gemma2.attention.key_length', u32(c.head_dim)],
    ['gemma2.attention.value_length', u32(c.head_dim)],
    ['gemma2.attention.sliding_window', u32(c.sliding_window)],
    ['gemma2.rope.freq_base', f32(c.rope_theta)],
  ];
  // llama.cpp treats an absent cap as "no capping"; Hugging Face's null means the same.
  if (c.attn_logit_softcapping !== null) meta.push(['gemma2.attn_logit_softcapping', f32(c.attn_logit_softcapping)]);
  if (c.final_logit_softcapping !== null) meta.push(['gemma2.final_logit_softcapping', f32(c.final_logit_softcapping)]);
  return meta;
}

/** llama.cpp scales queries by head_dim^-0.5 for every Gemma 2 size but 27B; refuse checkpoints where that differs. */
function checkSupported(ckpt: Checkpoint): void {
  const c = ckpt.spec.config;
  const is27b = c.num_hidden_layers === 46;
  const llamaScale = is27b ? 1 / Math.sqrt(c.hidden_size / c.num_attention_heads) : 1 / Math.sqrt(c.head_dim);
  if (Math.abs(llamaScale - ckpt.spec.attnScale) > 1e-6) {
    throw new Error(`query_pre_attn_scalar ${c.query_pre_attn_scalar} gives scale ${ckpt.spec.attnScale}; llama.cpp would use ${llamaScale}`);
  }
  if (ckpt.spec.isSliding.some((s, i) => s !== (i % 2 === 0))) throw new Error('llama.cpp gemma2 assumes even layers slide');
}

/** Reads a tensor in row chunks of about 4M elements and encodes each chunk. */
async function* encodeTensor(ckpt: Checkpoint, t: TensorPlan & Source): AsyncIterable<Uint8Array> {
  const cols = t.shape[t.shape.length - 1]!;
  const rows = t.shape.length === 1 ? 1 : t.shape[0]!;
  const chunk = Math.max(1, Math.floor((1 << 22) / cols));
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    const data = t.shape.length === 1 ? await ckpt.rows(t.hf, 0, cols) : await ckpt.rows(t.hf, start, count);
    // Gemma's RMSNorm multiplies by (1 + w); llama.cpp multiplies by the stored weight, so store 1 + w.
    if (t.norm) for (let i = 0; i < data.length; i++) data[i] = data[i]! + 1;
    yield encodeRows(t.type, data, cols);
  }
}

export interface ConvertResult {
  path: string;
  bytes: number;
  seconds: number;
  embdType: string;
}

export async function convertToGguf(dir: string, out: string, type: FileType, embdOverride?: GgmlTypeId): Promise<ConvertResult> {
  const ckpt = await openCheckpoint(dir);
  try {
    return await writeGgufOf(ckpt, basename(dir), out, type, embdOverride);
  } finally {
    await ckpt.close();
  }
}

/** The GGUF of an opened checkpoint or generated source, whose folder holds its config and tokenizer files. */
export async function writeGgufOf(ckpt: Checkpoint, name: string, out: string, type: FileType, embdOverride?: GgmlTypeId): Promise<ConvertResult> {
  const started = performance.now();
  checkSupported(ckpt);
  const { weights, embd, ftype } = FILE_TYPE[type];
  const tensors = plan(ckpt, weights, embdOverride ?? embd);
  const c = ckpt.spec.config;
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0]! : c.eos_token_id;
  const metadata = [
    ...architectureMetadata(ckpt, name, ftype),
    ...(await vocabMetadata(ckpt.dir, { bos: c.bos_token_id, eos, pad: c.pad_token_id, vocabSize: c.vocab_size })),
  ];
  const planned = tensors.reduce((s, t) => s + tensorBytes(t), 0);
  process.stderr.write(`writing ${out}: ${tensors.length} tensors, ${(planned / 1e9).toFixed(2)} GB of data\n`);
  const bytes = await writeGguf(out, metadata, tensors, (t) => encodeTensor(ckpt, tensors.find((x) => x.name === t.name)!));
  return { path: out, bytes, seconds: (performance.now() - started) / 1000, embdType: typeName(embdOverride ?? embd) };
}

/** The GGUF of a shape's generated weights (seeded), from a source folder holding only its config and tokenizer. */
async function generatedGguf(shape: Shape, seed: number, out: string, type: FileType, embd: GgmlTypeId | undefined): Promise<ConvertResult> {
  const tokenizerDir = await prepareTokenizer(dirname(out));
  const sourceDir = `${out}.source`;
  try {
    return await writeGgufOf(await openRandomSource(sourceDir, shapedOptions(shape, tokenizerDir, seed)), `gemma-2-${shape}-random-bf16`, out, type, embd);
  } finally {
    await rm(sourceDir, { recursive: true, force: true });
    await rm(tokenizerDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { type: { type: 'string', default: 'q4_0' }, out: { type: 'string' }, 'embd-type': { type: 'string' }, shape: { type: 'string' }, seed: { type: 'string', default: '42' } },
  });
  const dir = positionals[0];
  const { type, shape } = values;
  if ((dir === undefined) === (shape === undefined) || (type !== 'q4_0' && type !== 'q8_0' && type !== 'f32')) {
    throw new Error('usage: gguf-from-checkpoint <checkpoint-dir> | --shape 2b|9b|27b [--seed 42], --type q4_0|q8_0|f32 [--out file.gguf] [--embd-type q6_k|q8_0|q4_0|f16]');
  }
  if (shape !== undefined && !Object.hasOwn(SHAPES, shape)) throw new Error(`unknown shape ${shape}; choose from ${Object.keys(SHAPES).join(', ')}`);
  const embdName = values['embd-type'];
  const embd = embdName === undefined ? undefined : EMBD_TYPES[embdName];
  if (embdName !== undefined && embd === undefined) throw new Error(`--embd-type must be one of ${Object.keys(EMBD_TYPES).join(', ')}`);
  const out = resolve(values.out ?? `${resolve(dir ?? `gemma-2-${shape}-random`)}-${type}.gguf`);
  const r = dir !== undefined ? await convertToGguf(resolve(dir), out, type, embd) : await generatedGguf(shape as Shape, Number(values.seed), out, type, embd);
  process.stdout.write(`${r.path}: ${(r.bytes / 1e9).toFixed(3)} GB in ${r.seconds.toFixed(1)} s (token_embd ${r.embdType})\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]).endsWith('gguf-from-checkpoint.js')) await main();
