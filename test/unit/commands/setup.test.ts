import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gemma } from '../../helpers/cli.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-setup-');

// Only failures before anything is written run through the CLI: its target is the real onnxruntime-node folder.

test('gemma setup cuda --from a missing path fails with one line', async () => {
  const result = await gemma(['setup', 'cuda', '--from', '/nonexistent/provider.tgz']);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'gemma: error: --from /nonexistent/provider.tgz: no such file or folder\n');
});

test('gemma setup cuda --from a file that is not the pinned tarball fails the integrity check', async () => {
  const bad = join(await scratch(), 'bad.tgz');
  await writeFile(bad, 'not a tarball');
  const result = await gemma(['setup', 'cuda', '--from', bad, '--json']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^gemma: error: .*bad\.tgz does not match the pinned integrity: expected sha512-FopIhNE/);
  assert.equal(result.stdout, '');
});

test('gemma setup with an unknown target lists the valid ones', async () => {
  const result = await gemma(['setup', 'rocm']);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, "gemma: error: unknown setup target 'rocm' (valid: cuda)\n");
});
