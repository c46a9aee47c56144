import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  KEPT_PREFIX_SIZE,
  TINY_TOKENIZER_DIR,
  TINY_VOCAB_SIZE,
  makeTinyTokenizer,
  readRealTokenizer,
  renderTinyTokenizerFiles,
} from '../../scripts/make-tiny-tokenizer.js';

// Compiled to dist/test/unit/: three levels below the repo root.
const repoRoot = new URL('../../../', import.meta.url);
const assetDir = new URL(TINY_TOKENIZER_DIR, repoRoot);
const ASSET_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

type JsonRecord = Record<string, unknown>;

function asRecord(value: unknown): JsonRecord {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), 'expected an object');
  return value as JsonRecord;
}

function readAsset(name: string): string {
  return readFileSync(new URL(name, assetDir), 'utf8');
}

function vocabOf(tokenizer: unknown): Map<string, number> {
  const vocab = asRecord(asRecord(asRecord(tokenizer).model).vocab);
  return new Map(Object.entries(vocab).map(([token, id]) => [token, Number(id)]));
}

function mergesOf(tokenizer: unknown): string[] {
  const merges = asRecord(asRecord(tokenizer).model).merges;
  assert.ok(Array.isArray(merges));
  return merges.map(String);
}

function splitMerge(merge: string): [string, string] {
  const space = merge.indexOf(' ');
  return [merge.slice(0, space), merge.slice(space + 1)];
}

// The real tokenizer is 17 MB; parse it once for the whole file.
const real = readRealTokenizer(repoRoot);
const tiny = JSON.parse(readAsset('tokenizer.json')) as unknown;
const tinyConfig = asRecord(JSON.parse(readAsset('tokenizer_config.json')));
const realConfig = asRecord(real.config);

test('committed asset is byte-identical to a fresh regeneration', () => {
  const files = renderTinyTokenizerFiles(real);
  assert.deepEqual(Object.keys(files).sort(), [...ASSET_FILES].sort());
  for (const name of ASSET_FILES) assert.equal(readAsset(name), files[name], `${name} is stale`);
  const again = renderTinyTokenizerFiles(real);
  assert.deepEqual(again, files);
});

test('vocab has exactly 2048 contiguous, unique ids', () => {
  assert.equal(TINY_VOCAB_SIZE, 2048);
  const ids = [...vocabOf(tiny).values()].sort((a, b) => a - b);
  assert.equal(ids.length, TINY_VOCAB_SIZE);
  ids.forEach((id, i) => assert.equal(id, i));
});

test('ids 0..472 are identical to the real tokenizer', () => {
  const realById = new Map<number, string>();
  for (const [token, id] of vocabOf(real.tokenizer)) if (id < KEPT_PREFIX_SIZE) realById.set(id, token);
  const tinyById = new Map<number, string>();
  for (const [token, id] of vocabOf(tiny)) if (id < KEPT_PREFIX_SIZE) tinyById.set(id, token);
  assert.equal(KEPT_PREFIX_SIZE, 473);
  assert.equal(tinyById.size, KEPT_PREFIX_SIZE);
  assert.deepEqual(tinyById, realById);
});

test('special tokens keep their Gemma ids', () => {
  const vocab = vocabOf(tiny);
  const expected: Record<string, number> = {
    '<pad>': 0, '<eos>': 1, '<bos>': 2, '<unk>': 3, '<mask>': 4,
    '<start_of_turn>': 106, '<end_of_turn>': 107, '\n': 108, '<0x00>': 217, '<0xFF>': 472,
  };
  for (const [token, id] of Object.entries(expected)) assert.equal(vocab.get(token), id, token);
  const added = asRecord(tiny).added_tokens;
  assert.ok(Array.isArray(added));
  assert.deepEqual(added, asRecord(real.tokenizer).added_tokens);
});

test('printable ASCII characters and the space marker are single tokens', () => {
  const vocab = vocabOf(tiny);
  for (let code = 0x21; code <= 0x7e; code++) {
    const c = String.fromCharCode(code);
    assert.ok(vocab.has(c), `missing ${JSON.stringify(c)}`);
  }
  assert.ok(vocab.has('\u2581'));
});

test('every kept merge has its parts and result in the vocab, in real merge order', () => {
  const vocab = vocabOf(tiny);
  const merges = mergesOf(tiny);
  assert.ok(merges.length > 0);
  for (const merge of merges) {
    const [left, right] = splitMerge(merge);
    assert.ok(vocab.has(left) && vocab.has(right) && vocab.has(left + right), merge);
  }
  const realMerges = mergesOf(real.tokenizer);
  let cursor = 0;
  for (const merge of merges) {
    cursor = realMerges.indexOf(merge, cursor);
    assert.notEqual(cursor, -1, `merge ${JSON.stringify(merge)} not a subsequence of the real list`);
    cursor++;
  }
});

test('pipeline components and other model fields are the real ones', () => {
  const t = asRecord(tiny);
  const r = asRecord(real.tokenizer);
  for (const key of ['version', 'truncation', 'padding', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    assert.deepEqual(t[key], r[key], key);
  }
  const { vocab: _tv, merges: _tm, ...tinyModel } = asRecord(t.model);
  const { vocab: _rv, merges: _rm, ...realModel } = asRecord(r.model);
  assert.deepEqual(tinyModel, realModel);
});

test('tokenizer_config keeps the real chat template and settings', () => {
  assert.equal(tinyConfig.chat_template, realConfig.chat_template);
  const { added_tokens_decoder: tinyDecoder, ...tinyRest } = tinyConfig;
  const { added_tokens_decoder: realDecoder, ...realRest } = realConfig;
  assert.deepEqual(tinyRest, realRest);
  for (const id of Object.keys(asRecord(tinyDecoder))) assert.ok(Number(id) < KEPT_PREFIX_SIZE, id);
  const realKept = Object.entries(asRecord(realDecoder)).filter(([id]) => Number(id) < KEPT_PREFIX_SIZE);
  assert.deepEqual(tinyDecoder, Object.fromEntries(realKept));
});

test('special_tokens_map names the Gemma special tokens', () => {
  assert.deepEqual(JSON.parse(readAsset('special_tokens_map.json')), {
    bos_token: '<bos>',
    eos_token: '<eos>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    additional_special_tokens: ['<start_of_turn>', '<end_of_turn>'],
  });
});

test('assets are 2-space JSON with a trailing newline', () => {
  for (const name of ASSET_FILES) {
    const text = readAsset(name);
    assert.equal(text, JSON.stringify(JSON.parse(text), null, 2) + '\n', name);
  }
});

test('makeTinyTokenizer honours a smaller vocab size and rejects bad input', () => {
  const small = makeTinyTokenizer(real, 600);
  assert.equal(vocabOf(small.tokenizer).size, 600);
  assert.throws(() => makeTinyTokenizer(real, KEPT_PREFIX_SIZE - 1));
  assert.throws(() => makeTinyTokenizer({ tokenizer: null, config: real.config }, TINY_VOCAB_SIZE));
});
