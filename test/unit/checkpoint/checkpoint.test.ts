import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INDEX_FILE, openCheckpoint, type Checkpoint } from '../../../src/checkpoint/checkpoint.js';
import type { Gemma2Config } from '../../../src/checkpoint/config.js';
import { generateRandomCheckpoint } from '../../../src/checkpoint/random-checkpoint.js';
import { openSafetensors, readRows, type FloatDtype } from '../../../src/checkpoint/safetensors.js';
import { writeSafetensors, type TensorSpec } from '../../../src/checkpoint/safetensors-writer.js';
import { EMBED_TOKENS, FINAL_NORM, attnWeight, mlpWeight, normWeight } from '../../../src/checkpoint/tensor-names.js';
import { GemmaError } from '../../../src/util/errors.js';
import { BINDING_CONFIG, BINDING_OPTIONS, tempDir } from '../../helpers/models.js';

const SMALL: Gemma2Config = {
  ...BINDING_CONFIG,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 16,
};

let root = '';
let base = '';
let sameSeed = '';
let otherSeed = '';
let copies = 0;

before(async () => {
  root = await tempDir('checkpoint');
  base = join(root, 'base');
  sameSeed = join(root, 'same-seed');
  otherSeed = join(root, 'other-seed');
  await generateRandomCheckpoint(base, { ...BINDING_OPTIONS, config: SMALL });
  await generateRandomCheckpoint(sameSeed, { ...BINDING_OPTIONS, config: SMALL });
  await generateRandomCheckpoint(otherSeed, { ...BINDING_OPTIONS, config: SMALL, seed: BINDING_OPTIONS.seed + 1 });
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function withCheckpoint<T>(dir: string, body: (ckpt: Checkpoint) => Promise<T>): Promise<T> {
  const ckpt = await openCheckpoint(dir);
  try {
    return await body(ckpt);
  } finally {
    await ckpt.close();
  }
}

/** A fresh copy of the base checkpoint to break. */
async function copyOfBase(): Promise<string> {
  const dir = join(root, `copy-${copies++}`);
  await cp(base, dir, { recursive: true });
  return dir;
}

async function weightMap(dir: string): Promise<Record<string, string>> {
  return (JSON.parse(await readFile(join(dir, INDEX_FILE), 'utf8')) as { weight_map: Record<string, string> }).weight_map;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** openCheckpoint must fail with a one-line GemmaError matching every pattern, leaving no file open. */
async function rejectsCheckpoint(dir: string, ...patterns: RegExp[]): Promise<void> {
  const before = openFds();
  await assert.rejects(openCheckpoint(dir), (err: unknown) => {
    assert.ok(err instanceof GemmaError, `expected GemmaError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
  assert.equal(openFds(), before, 'a file handle was left open');
}

/** Rewrites one shard with writeSafetensors after `edit` changes its tensor list. */
async function rewriteShard(path: string, edit: (specs: TensorSpec[]) => TensorSpec[]): Promise<void> {
  const file = await openSafetensors(path);
  const data = new Map<string, Float32Array>();
  const specs: TensorSpec[] = [];
  try {
    for (const entry of [...file.tensors.values()].sort((a, b) => a.offset - b.offset)) {
      data.set(entry.name, await readRows(file, entry, 0, entry.shape[0]!));
      specs.push({ name: entry.name, dtype: entry.dtype as FloatDtype, shape: entry.shape });
    }
  } finally {
    await file.handle.close();
  }
  await writeSafetensors(path, edit(specs), (t) => [data.get(t.name)!]);
}

const EXPECTED_SHAPES: Array<[string, number[]]> = [
  [EMBED_TOKENS, [2048, 32]],
  [attnWeight(0, 'q_proj'), [32, 32]],
  [attnWeight(1, 'k_proj'), [16, 32]],
  [attnWeight(1, 'v_proj'), [16, 32]],
  [attnWeight(0, 'o_proj'), [32, 32]],
  [mlpWeight(1, 'gate_proj'), [64, 32]],
  [mlpWeight(0, 'up_proj'), [64, 32]],
  [mlpWeight(1, 'down_proj'), [32, 64]],
  [normWeight(1, 'pre_feedforward_layernorm'), [32]],
  [FINAL_NORM, [32]],
];

test('a generated 3-shard checkpoint opens with the right shapes', async () => {
  const files = (await readdir(base)).filter((f) => f.endsWith('.safetensors')).sort();
  assert.deepEqual(files, ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
  await withCheckpoint(base, async (ckpt) => {
    assert.equal(ckpt.spec.config.hidden_size, 32);
    assert.equal(ckpt.spec.config.vocab_size, 2048);
    assert.deepEqual(ckpt.spec.isSliding, [true, false]);
    assert.deepEqual(ckpt.rawConfig.architectures, ['Gemma2ForCausalLM']);
    assert.equal(ckpt.tensorCount, 2 + 2 * 11);
    for (const [name, shape] of EXPECTED_SHAPES) assert.deepEqual(ckpt.shape(name), shape, name);
    assert.equal(ckpt.tensorBytes(EMBED_TOKENS), 2048 * 32 * 2);
    const elements = 2048 * 32 + 2 * (32 * 32 * 2 + 16 * 32 * 2 + 64 * 32 * 3 + 32 * 4) + 32;
    assert.equal(ckpt.storedBytes, elements * 2);
    assert.throws(() => ckpt.shape('lm_head.weight'));
  });
});

test('rows are deterministic for a seed and differ for another seed', async () => {
  await withCheckpoint(base, (a) => withCheckpoint(sameSeed, (b) => withCheckpoint(otherSeed, async (c) => {
    for (const [name, shape] of EXPECTED_SHAPES) {
      const rowsA = await a.rows(name, 0, shape[0]!);
      const rowsB = await b.rows(name, 0, shape[0]!);
      const rowsC = await c.rows(name, 0, shape[0]!);
      assert.equal(rowsA.length, shape.reduce((x, y) => x * y, 1), name);
      assert.deepEqual(rowsA, rowsB, `${name}: same seed, same values`);
      assert.notDeepEqual(rowsA, rowsC, `${name}: other seed, other values`);
      assert.ok(rowsA.some((v) => v !== 0), `${name}: not all zeros`);
    }
  })));
});

test('row ranges match the whole tensor, and values are bf16 within the init range', async () => {
  await withCheckpoint(base, async (ckpt) => {
    const all = await ckpt.rows(EMBED_TOKENS, 0, 2048);
    assert.deepEqual(await ckpt.rows(EMBED_TOKENS, 1000, 3), all.subarray(1000 * 32, 1003 * 32));
    assert.deepEqual(await ckpt.rows(EMBED_TOKENS, 2047, 1), all.subarray(2047 * 32));
    const bits = new Uint32Array(all.buffer);
    assert.ok(bits.every((b) => (b & 0xffff) === 0), 'every value is a bf16');
    const limit = BINDING_OPTIONS.init.embedStd * Math.sqrt(3) * 1.01;
    assert.ok(all.every((v) => Math.abs(v) <= limit), 'embeddings within the uniform range');
    const norm = await ckpt.rows(FINAL_NORM, 0, 32);
    assert.equal(norm.length, 32);
    await assert.rejects(ckpt.rows(EMBED_TOKENS, 2047, 2), RangeError);
  });
});

test('a path that does not exist, or is a file, is not a directory', async () => {
  await rejectsCheckpoint(join(root, 'absent'), /not a directory/, /absent/);
  await rejectsCheckpoint(join(base, 'config.json'), /not a directory/, /config\.json/);
});

test('missing config.json', async () => {
  const dir = await copyOfBase();
  await rm(join(dir, 'config.json'));
  await rejectsCheckpoint(dir, /missing config\.json/);
});

test('config.json that is not JSON', async () => {
  const dir = await copyOfBase();
  await writeFile(join(dir, 'config.json'), '{"model_type": "gemma2",');
  await rejectsCheckpoint(dir, /config\.json is not valid JSON/);
});

test('a Gemma 3 config', async () => {
  const dir = await copyOfBase();
  const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...raw, model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'] }));
  await rejectsCheckpoint(dir, /unsupported architecture/, /Gemma 3/, /gemma3_text/);
});

test('an index listing a missing shard', async () => {
  const dir = await copyOfBase();
  await rm(join(dir, 'model-00002-of-00003.safetensors'));
  await rejectsCheckpoint(dir, /missing shard model-00002-of-00003\.safetensors listed in model\.safetensors\.index\.json/);
});

test('an index with hostile shard names', async () => {
  const dir = await copyOfBase();
  // Make the escape target real, so only the name check can stop it.
  await cp(join(dir, 'model-00003-of-00003.safetensors'), join(root, 'evil.safetensors'));
  const map = await weightMap(dir);
  for (const hostile of ['../evil.safetensors', '/etc/passwd', 'a/b.safetensors', '..', '.', '', '..\\evil.safetensors', 7]) {
    await writeFile(join(dir, INDEX_FILE), JSON.stringify({ metadata: {}, weight_map: { ...map, [FINAL_NORM]: hostile } }));
    await rejectsCheckpoint(dir, /invalid file name/, new RegExp(`'${FINAL_NORM.replace(/\./g, '\\.')}'`));
  }
});

test('an index that is not JSON or has no weight_map', async () => {
  const dir = await copyOfBase();
  await writeFile(join(dir, INDEX_FILE), 'not json');
  await rejectsCheckpoint(dir, /model\.safetensors\.index\.json is not valid JSON/);
  await writeFile(join(dir, INDEX_FILE), JSON.stringify({ metadata: {} }));
  await rejectsCheckpoint(dir, /has no weight_map/);
  await writeFile(join(dir, INDEX_FILE), 'null');
  await rejectsCheckpoint(dir, /has no weight_map/);
});

test('a tensor missing from the shards', async () => {
  const dir = await copyOfBase();
  const map = await weightMap(dir);
  const missing = attnWeight(1, 'k_proj');
  await rewriteShard(join(dir, map[missing]!), (specs) => specs.filter((s) => s.name !== missing));
  await rejectsCheckpoint(dir, new RegExp(`has no tensor '${missing.replace(/\./g, '\\.')}'`));
});

test('a tensor with the wrong shape', async () => {
  const dir = await copyOfBase();
  const map = await weightMap(dir);
  const name = attnWeight(0, 'k_proj');
  await rewriteShard(join(dir, map[name]!), (specs) => specs.map((s) => (s.name === name ? { ...s, shape: [32, 16] } : s)));
  await rejectsCheckpoint(dir, new RegExp(`tensor '${name.replace(/\./g, '\\.')}' has shape \\[32, 16\\], config\\.json implies \\[16, 32\\]`));
});

test('a truncated shard', async () => {
  const dir = await copyOfBase();
  const path = join(dir, 'model-00003-of-00003.safetensors');
  await truncate(path, (await readFile(path)).length - 2);
  await rejectsCheckpoint(dir, /model-00003-of-00003\.safetensors: not a valid safetensors file \(truncated/);
});

test('weights of more layers than num_hidden_layers', async () => {
  const dir = await copyOfBase();
  const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...raw, num_hidden_layers: 1 }));
  await rejectsCheckpoint(dir, /config\.json in .* says num_hidden_layers 1, but the weights hold 2 layers: correct config\.json/);
});

test('a directory or a named pipe where a file belongs is refused before it is read', async () => {
  const single = join(root, 'single-as-directory');
  await generateRandomCheckpoint(single, { ...BINDING_OPTIONS, config: SMALL, shards: 1 });
  await rm(join(single, 'model.safetensors'));
  await mkdir(join(single, 'model.safetensors'));
  await rejectsCheckpoint(single, /model\.safetensors is a directory, not a file: put the file itself there/);
  for (const name of ['config.json', 'model-00002-of-00003.safetensors', 'tokenizer.json', 'generation_config.json']) {
    const dir = await copyOfBase();
    await rm(join(dir, name), { force: true });
    assert.equal(spawnSync('mkfifo', [join(dir, name)]).status, 0);
    await rejectsCheckpoint(dir, new RegExp(`${name.replace(/\./g, '\\.')} is a named pipe, not a file`));
  }
});

test('no weights at all', async () => {
  const dir = await copyOfBase();
  for (const f of await readdir(dir)) {
    if (f.endsWith('.safetensors') || f === INDEX_FILE) await rm(join(dir, f));
  }
  await rejectsCheckpoint(dir, /no weights in/, /model\.safetensors or model\.safetensors\.index\.json/);
});

test('a single model.safetensors without an index opens', async () => {
  const dir = join(root, 'single');
  await generateRandomCheckpoint(dir, { ...BINDING_OPTIONS, config: SMALL, shards: 1 });
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('safetensors')), ['model.safetensors']);
  await withCheckpoint(dir, (single) => withCheckpoint(base, async (sharded) => {
    assert.equal(single.tensorCount, sharded.tensorCount);
    assert.deepEqual(await single.rows(mlpWeight(1, 'down_proj'), 0, 32), await sharded.rows(mlpWeight(1, 'down_proj'), 0, 32));
  }));
});
