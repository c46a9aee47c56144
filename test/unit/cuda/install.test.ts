import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { MIN_BUILD_FRACTION } from '../../../src/cuda/install.js';
import { installProviderLibs } from '../../../src/cuda/install.js';
import { targetError } from '../../../src/cuda/install-errors.js';
import { CUDA_LIB, SHARED_LIB } from '../../../src/cuda/provider-package.js';
import { tempDirs } from '../../helpers/temp-dirs.js';
import { elfSharedLibrary, fakeProviderPackage, type FakeProviderPackage } from '../../helpers/provider-tarball.js';

let fake: FakeProviderPackage;
const target = tempDirs('gemma-cuda-target-');
before(async () => (fake = await fakeProviderPackage(await target())));

async function assertInstalled(dir: string): Promise<void> {
  assert.deepEqual((await readdir(dir)).sort(), [CUDA_LIB, SHARED_LIB]);
  for (const name of [CUDA_LIB, SHARED_LIB]) {
    assert.deepEqual(await readFile(join(dir, name)), fake.contents[name]);
    assert.equal((await stat(join(dir, name))).mode & 0o777, 0o755);
  }
}

test('installs from a local tarball, then reports the same files as already installed', async () => {
  const dir = await target();
  const first = await installProviderLibs({ targetDir: dir, from: fake.tgz, pkg: fake.pkg });
  assert.deepEqual(first.files.map((f) => f.outcome), ['installed', 'installed']);
  assert.equal(first.source, fake.tgz);
  await assertInstalled(dir);
  const again = await installProviderLibs({ targetDir: dir, from: fake.tgz, pkg: fake.pkg });
  assert.deepEqual(again.files.map((f) => f.outcome), ['unchanged', 'unchanged']);
  await assertInstalled(dir);
});

test('replaces a different file of the same name', async () => {
  const dir = await target();
  await writeFile(join(dir, CUDA_LIB), 'an older build');
  const result = await installProviderLibs({ targetDir: dir, from: fake.tgz, pkg: fake.pkg });
  assert.equal(result.files.find((f) => f.name === CUDA_LIB)?.outcome, 'installed');
  await assertInstalled(dir);
});

test('refuses a tarball that does not match the pinned integrity and leaves nothing behind', async () => {
  const dir = await target();
  const pkg = { ...fake.pkg, integrity: 'sha512-AAAA' };
  await assert.rejects(installProviderLibs({ targetDir: dir, from: fake.tgz, pkg }), /does not match the pinned integrity: expected sha512-AAAA, got sha512-/);
  assert.deepEqual(await readdir(dir), []);
});

test('the real package description is checked by default: a test tarball fails it', async () => {
  const dir = await target();
  await assert.rejects(installProviderLibs({ targetDir: dir, from: fake.tgz }), /pinned integrity/);
  assert.deepEqual(await readdir(dir), []);
});

test('installs from a folder holding the libraries, checking the ORT version string', async () => {
  const dir = await target();
  const result = await installProviderLibs({ targetDir: dir, from: fake.libsDir, pkg: fake.pkg });
  assert.deepEqual(result.files.map((f) => f.outcome), ['installed', 'installed']);
  await assertInstalled(dir);
  const again = await installProviderLibs({ targetDir: dir, from: fake.libsDir, pkg: fake.pkg });
  assert.deepEqual(again.files.map((f) => f.outcome), ['unchanged', 'unchanged']);
});

test('refuses a folder whose CUDA library lacks the version string, or that lacks a library', async () => {
  const other = await target();
  await writeFile(join(other, SHARED_LIB), fake.contents[SHARED_LIB]!);
  const dir = await target();
  await assert.rejects(installProviderLibs({ targetDir: dir, from: other, pkg: fake.pkg }), new RegExp(`no ${CUDA_LIB.replace(/\./g, '\\.')} in it`));
  await writeFile(join(other, CUDA_LIB), fake.contents[CUDA_LIB]!.toString('latin1').replaceAll('1.29.0', '1.28.0'), 'latin1');
  await assert.rejects(installProviderLibs({ targetDir: dir, from: other, pkg: fake.pkg }), /not built for onnxruntime 1\.29\.0/);
  assert.deepEqual(await readdir(dir), []);
});

test('a --from that does not exist is named', async () => {
  await assert.rejects(installProviderLibs({ targetDir: await target(), from: '/nonexistent/x.tgz', pkg: fake.pkg }), /--from \/nonexistent\/x\.tgz: no such file or folder/);
});

test('a target that is a file, not a folder, fails before anything is written', async () => {
  const file = join(await target(), 'not-a-dir');
  await writeFile(file, '');
  await assert.rejects(installProviderLibs({ targetDir: file, from: fake.tgz, pkg: fake.pkg }), /cannot install into .*not-a-dir: not a folder/);
});

test('a failure while moving files into place leaves no temporary files', async () => {
  const dir = await target();
  // A folder where the library should go makes the final rename fail (root ignores permissions).
  await mkdir(join(dir, CUDA_LIB));
  await writeFile(join(dir, CUDA_LIB, 'x'), '');
  await assert.rejects(installProviderLibs({ targetDir: dir, from: fake.tgz, pkg: fake.pkg }), /cannot install into/);
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp')), []);
});

test('write failures in the target folder say what to do', () => {
  const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  assert.match(String(targetError(err('EACCES'), '/opt/ort')), /cannot write to \/opt\/ort \(EACCES\): run gemma setup cuda as a user with write access to that folder/);
  assert.match(String(targetError(err('EROFS'), '/opt/ort')), /cannot write to \/opt\/ort/);
  assert.match(String(targetError(err('ENOSPC'), '/opt/ort')), /no space left in \/opt\/ort/);
  const other = new Error('boom');
  assert.equal(targetError(other, '/opt/ort'), other);
});

test('a folder is refused unless each library is an x86-64 ELF shared library of plausible size, naming the file', async () => {
  const dir = await target();
  const version = Buffer.from(`\0${fake.pkg.ortVersion}\0`);
  const cuda = fake.contents[CUDA_LIB]!;
  const patched = (offset: number, value: number): Buffer => {
    const copy = Buffer.from(cuda);
    copy.writeUInt16LE(value, offset);
    return copy;
  };
  const cases: [Buffer, RegExp][] = [
    [version, /not an ELF shared library/],
    [patched(4, 1), /not a 64-bit little-endian ELF file/],
    [patched(16, 2), /an ELF file of type 2, not a shared library/],
    [patched(18, 183), /built for ELF machine 183, not x86-64/],
    [elfSharedLibrary(Buffer.concat([version, Buffer.alloc(Math.floor(cuda.length * MIN_BUILD_FRACTION) - 80)])), /bytes, too small to be a build of it/],
  ];
  for (const [bytes, message] of cases) {
    const from = await target();
    await writeFile(join(from, SHARED_LIB), fake.contents[SHARED_LIB]!);
    await writeFile(join(from, CUDA_LIB), bytes);
    const refused = installProviderLibs({ targetDir: dir, from, pkg: fake.pkg });
    await assert.rejects(refused, (err: Error) => err.message.startsWith(`--from ${join(from, CUDA_LIB)}: `) && message.test(err.message));
  }
  assert.deepEqual(await readdir(dir), []);
});

test('an unwritable target is blamed for a failed copy from a folder, not the source', async (t) => {
  // sysfs refuses new files even to root, which ignores permission bits.
  const unwritable = '/sys';
  const probe = join(unwritable, 'gemma-probe');
  if (await writeFile(probe, '').then(() => rm(probe).then(() => true), () => false)) return t.skip('/sys is writable here');
  await assert.rejects(installProviderLibs({ targetDir: unwritable, from: fake.libsDir, pkg: fake.pkg }), /^GemmaError: cannot write to \/sys \(EACCES\): run gemma setup cuda as a user with write access/);
});
