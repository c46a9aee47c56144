import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { blobPath, linkIntoSnapshot, readRef, repoCache, snapshotDir, writeRef } from '../../../src/hub/cache-layout.js';

let root: string;
before(async () => (root = await mkdtemp(join(tmpdir(), 'gemma-layout-'))));
after(() => rm(root, { recursive: true, force: true }));

const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const SHA256 = 'f'.repeat(64);

test('paths follow huggingface_hub: models--org--name/{blobs,snapshots,refs}', () => {
  const cache = repoCache(root, 'google/gemma-2-2b-it');
  assert.equal(cache.root, join(root, 'models--google--gemma-2-2b-it'));
  assert.equal(blobPath(cache, SHA256), join(cache.root, 'blobs', SHA256));
  assert.equal(snapshotDir(cache, COMMIT), join(cache.root, 'snapshots', COMMIT));
});

test('hashes from the Hub name files only if they are hashes', () => {
  const cache = repoCache(root, 'a/b');
  for (const id of ['../../x', 'F'.repeat(64), 'a'.repeat(63), '']) assert.throws(() => blobPath(cache, id), /invalid file hash/);
  assert.throws(() => snapshotDir(cache, '../x'), /invalid commit hash/);
});

test('refs hold the bare commit (no newline), nested refs work, garbage reads as absent', async () => {
  const cache = repoCache(root, 'a/b');
  await writeRef(cache, 'main', COMMIT);
  await writeRef(cache, 'refs/pr/1', COMMIT);
  assert.equal(await readFile(join(cache.refs, 'main'), 'utf8'), COMMIT);
  assert.equal(await readRef(cache, 'refs/pr/1'), COMMIT);
  assert.equal(await readRef(cache, 'nope'), undefined);
  await writeFile(join(cache.refs, 'bad'), 'not a commit');
  assert.equal(await readRef(cache, 'bad'), undefined);
});

test('snapshot entries are relative links into blobs/, and a stale entry is replaced', async () => {
  const cache = repoCache(root, 'c/d');
  const dir = snapshotDir(cache, COMMIT);
  const blob = blobPath(cache, SHA256);
  await mkdir(cache.blobs, { recursive: true });
  await writeFile(blob, 'weights');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.safetensors'), 'stale copy');
  await linkIntoSnapshot(dir, 'model.safetensors', blob);
  await linkIntoSnapshot(dir, 'sub/deeper.json', blob);
  assert.equal(await readlink(join(dir, 'model.safetensors')), `../../blobs/${SHA256}`);
  assert.equal(await readlink(join(dir, 'sub/deeper.json')), `../../../blobs/${SHA256}`);
  assert.equal(await realpath(join(dir, 'sub/deeper.json')), await realpath(blob));
  assert.ok((await lstat(join(dir, 'model.safetensors'))).isSymbolicLink());
  await linkIntoSnapshot(dir, 'model.safetensors', blob);
  assert.equal(await readFile(join(dir, 'model.safetensors'), 'utf8'), 'weights');
});

test('a name that slipped through is still never written outside the snapshot', async () => {
  const cache = repoCache(root, 'e/f');
  const dir = snapshotDir(cache, COMMIT);
  for (const name of ['../../escape', '../x', '']) await assert.rejects(linkIntoSnapshot(dir, name, blobPath(cache, SHA256)), /refusing to write/);
});
