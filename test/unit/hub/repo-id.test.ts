import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRepoId, checkRevision, isCommitHash, isRepoId, repoFolderName } from '../../../src/hub/repo-id.js';

test('isRepoId accepts org/name and nothing that could be a path or a cache separator', () => {
  for (const id of ['google/gemma-2-2b-it', 'google/gemma-2-9b', 'a/b', 'Org_1/model.v2']) assert.ok(isRepoId(id), id);
  const bad = ['gemma-2b', 'tiny-random', './google/gemma', '../a/b', '/abs/path', 'a/b/c', 'a//b', 'a--b/c', 'a/b--c', 'a/..', 'a/.b', 'a/b.', '-a/b', 'a/b-', 'a/b c', 'a\\b', `a/${'x'.repeat(97)}`, ''];
  for (const id of bad) assert.ok(!isRepoId(id), id);
  assert.throws(() => checkRepoId('../etc'), /not a Hugging Face model id: "..\/etc"/);
});

test('revisions: branches, tags, PR refs and commits; never a path that escapes refs/', () => {
  for (const rev of ['main', 'v1.0', 'refs/pr/1', 'release-2024_01', 'a'.repeat(40)]) assert.equal(checkRevision(rev), rev);
  for (const rev of ['../../x', '/main', 'a//b', 'main/', 'a b', 'x~1', 'x^', 'a:b', 'ma\nin', '-x', 'x.lock', 'a\\b', '@{u}']) {
    assert.throws(() => checkRevision(rev), /^GemmaError: invalid --revision/, rev);
  }
});

test('commit hashes and cache folder names', () => {
  assert.ok(isCommitHash('0123456789abcdef0123456789abcdef01234567'));
  assert.ok(!isCommitHash('0123456789ABCDEF0123456789abcdef01234567'));
  assert.ok(!isCommitHash('main'));
  assert.equal(repoFolderName('google/gemma-2-2b-it'), 'models--google--gemma-2-2b-it');
});
