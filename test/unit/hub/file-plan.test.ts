import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstFiles, shardsOf } from '../../../src/hub/file-plan.js';
import type { RemoteFile } from '../../../src/hub/hub-api.js';

const file = (path: string, lfs = path.endsWith('.safetensors')): RemoteFile => ({ path, size: 10, blobId: 'a'.repeat(lfs ? 64 : 40), lfs });
const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
const listing = [
  ...['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors.index.json', 'README.md', '.gitattributes', 'tokenizer.model', 'gemma-2-2b-it.gguf', 'pytorch_model.bin', 'model.safetensors'].map((p) => file(p)),
  ...SHARDS.map((p) => file(p)),
];

test('sharded repo: small files and the index first, then exactly the shards the index names', () => {
  const first = firstFiles(listing, 'r/m');
  assert.deepEqual(first.files.map((f) => f.path), ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors.index.json']);
  assert.equal(first.index?.path, 'model.safetensors.index.json');
  const shards = shardsOf({ weight_map: { a: SHARDS[1], b: SHARDS[0], c: SHARDS[1] } }, listing, 'r/m');
  assert.deepEqual(shards.map((f) => f.path), SHARDS);
});

test('single-file repo: model.safetensors, never .gguf or .bin', () => {
  const only = listing.filter((f) => f.path !== 'model.safetensors.index.json' && !SHARDS.includes(f.path));
  const first = firstFiles(only, 'r/m');
  assert.equal(first.index, undefined);
  assert.deepEqual(first.files.map((f) => f.path).filter((p) => !p.endsWith('.json')), ['model.safetensors']);
});

test('repos gemma cannot use are refused', () => {
  assert.throws(() => firstFiles([file('model.safetensors')], 'r/m'), /r\/m has no config.json/);
  assert.throws(() => firstFiles([file('config.json'), file('model.gguf'), file('pytorch_model.bin')], 'r/m'), /r\/m has no safetensors weights/);
  assert.throws(() => firstFiles([file('config.json'), { ...file('model.safetensors.index.json'), size: 1e9 }], 'r/m'), /too large to be an index/);
});

test('an index naming hostile or missing files is refused', () => {
  const cases: [unknown, RegExp][] = [
    [{ weight_map: { a: '../../evil.safetensors' } }, /refusing file name "..\/..\/evil.safetensors"/],
    [{ weight_map: { a: '/etc/evil.safetensors' } }, /refusing file name/],
    [{ weight_map: { a: '..\\evil.safetensors' } }, /refusing file name/],
    [{ weight_map: { a: 'x\u001b]0;pwned\u0007.safetensors' } }, /refusing file name "x\\u001b\]0;pwned\\u0007.safetensors"/],
    [{ weight_map: { a: 'sub/model.safetensors' } }, /not a .safetensors file next to it/],
    [{ weight_map: { a: 'config.json' } }, /not a .safetensors file next to it/],
    [{ weight_map: { a: 'model-00009-of-00009.safetensors' } }, /which the repo does not have/],
    [{ weight_map: { a: 7 } }, /not a string/],
    [{ weight_map: {} }, /names no weight files/],
    [{ weight_map: [] }, /has no weight_map/],
    [null, /has no weight_map/],
  ];
  for (const [index, message] of cases) assert.throws(() => shardsOf(index, listing, 'r/m'), message, JSON.stringify(index));
});
