import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { GemmaError } from '../../../src/util/errors.js';
import { makeDirs } from '../../../src/util/make-dirs.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-make-dirs-');

test('creates every missing level and accepts folders that exist', async () => {
  const root = await scratch();
  await makeDirs(join(root, 'a', 'b', 'c'));
  assert.ok((await stat(join(root, 'a', 'b', 'c'))).isDirectory());
  await makeDirs(join(root, 'a', 'b'));
  await makeDirs(root);
});

test('a filesystem that answers ENOENT under an existing folder (/proc) fails at once instead of spinning', { timeout: 10_000 }, async () => {
  await assert.rejects(makeDirs('/proc/gemma-test/a/b'), (err: unknown) => err instanceof GemmaError && err.message === 'cannot create /proc/gemma-test: /proc does not take new folders');
});

test('a file in the way is ENOTDIR, whether it is the folder itself or above it', async () => {
  const root = await scratch();
  await writeFile(join(root, 'file'), '');
  await assert.rejects(makeDirs(join(root, 'file')), { code: 'ENOTDIR' });
  await assert.rejects(makeDirs(join(root, 'file', 'below')), { code: 'ENOTDIR' });
});
