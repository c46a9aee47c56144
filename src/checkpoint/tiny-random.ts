import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeFsError } from '../util/errors.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { makeDirs } from '../util/make-dirs.js';
import { acquireLock, type LockWait } from '../util/pid-lock.js';
import { deadProcessFolders } from '../util/temp-folders.js';
import type { Gemma2Config } from './config.js';
import { generateRandomCheckpoint, type RandomCheckpointOptions } from './random-checkpoint.js';

export const TINY_RANDOM = 'tiny-random';
/** A 2048-entry tokenizer derived from Gemma's, with its special tokens, ids and chat template (scripts/make-tiny-tokenizer.ts). */
export const TINY_TOKENIZER_DIR = join(PACKAGE_ROOT, 'assets', 'tiny-tokenizer');

/** Gemma 2's architecture at toy size: every Gemma 2 feature is present, the weights are random. */
export const TINY_RANDOM_CONFIG: Gemma2Config = {
  model_type: 'gemma2',
  vocab_size: 2048,
  hidden_size: 256,
  intermediate_size: 1024,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 64,
  query_pre_attn_scalar: 64,
  sliding_window: 64,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 1024,
  hidden_activation: 'gelu_pytorch_tanh',
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
};

export const TINY_RANDOM_OPTIONS: RandomCheckpointOptions = {
  config: TINY_RANDOM_CONFIG,
  dtype: 'BF16',
  seed: 42,
  shards: 2,
  init: { embedStd: 1, projStd: 0.05, normStd: 0.1 },
  tokenizerDir: TINY_TOKENIZER_DIR,
  label: 'tiny-random (RANDOM WEIGHTS, not a trained model)',
};

const isGenerated = (dir: string): Promise<boolean> => stat(join(dir, 'config.json')).then(() => true, () => false);

/**
 * The built-in checkpoint's folder under `home`, generated on first use (deterministic, about
 * 10 MB) by one process at a time: others wait for it. What a killed generation left is swept.
 */
export async function ensureTinyRandom(home: string, wait: LockWait = {}): Promise<string> {
  const parent = join(home, 'checkpoints');
  const name = `${TINY_RANDOM}-v1`;
  const dir = join(parent, name);
  if (await isGenerated(dir)) return dir;
  const release = await makeDirs(parent)
    .then(() => acquireLock(join(parent, `.${name}.lock`), wait))
    .catch((err: unknown) => Promise.reject(describeFsError(err, `cannot create the built-in checkpoint in ${parent}`)));
  try {
    if (await isGenerated(dir)) return dir;
    // generateRandomCheckpoint writes into `<dir>.tmp-<pid>`.
    for (const dead of await deadProcessFolders(parent, new RegExp(`^${name}\\.tmp-(\\d+)$`))) await rm(dead, { recursive: true, force: true });
    await generateRandomCheckpoint(dir, TINY_RANDOM_OPTIONS);
    return dir;
  } finally {
    await release();
  }
}
