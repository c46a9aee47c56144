import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

test('a read-only mount is reported as EROFS, not as a missing folder (Node\'s recursive mkdir says ENOENT)', async (t) => {
  const root = await scratch();
  const makeDirsModule = new URL('../../../src/util/make-dirs.js', import.meta.url).pathname;
  const script = `import('${makeDirsModule}').then((m) => m.makeDirs('${root}/a/b')).then(() => console.log('created'), (e) => console.log(e.code))`;
  // A private mount namespace: the read-only mount is seen by this child alone and vanishes with it.
  const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o ro tmpfs ${root} && ${process.execPath} -e "${script}"`], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout === '') return t.skip(`needs unshare -m and mount (root): ${r.stderr.trim()}`);
  assert.equal(r.stdout.trim(), 'EROFS');
});
