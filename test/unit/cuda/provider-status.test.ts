import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CUDA_LIB, SHARED_LIB } from '../../../src/cuda/provider-package.js';
import {
  CUDNN, cudaReadiness, findLibrary, libraryFix, parseLdconfig, parseLddMissing, providerStatus, readinessProblems, type ProviderStatus,
} from '../../../src/cuda/provider-status.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-provider-status-');

const LDD = `\tlinux-vdso.so.1 (0x00007ffd3b1f2000)
\tlibcublasLt.so.13 => not found
\tlibcublas.so.13 => not found
\tlibcurand.so.10 => not found
\tlibcudart.so.13 => /usr/local/cuda-13.0/lib/libcudart.so.13 (0x00007f2bf1a00000)
\tlibcuda.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2bf181e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f2bffc36000)
`;

const LDCONFIG = `1234 libs found in cache \`/etc/ld.so.cache'
\tlibcudnn.so.9 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.9
\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so.13
\tlibcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1
\tlibcuda.so.1 (libc6,x86-64) => /lib/libcuda.so.1
\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6
`;

test('parseLddMissing names only the libraries ldd could not find', () => {
  assert.deepEqual(parseLddMissing(LDD), ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcuda.so.1']);
  assert.deepEqual(parseLddMissing('\tlibc.so.6 => /lib/libc.so.6 (0x1)\n'), []);
});

test('parseLdconfig maps names to paths (lines as on an H100 machine)', () => {
  const libs = parseLdconfig(LDCONFIG);
  assert.equal(libs.get('libcudnn.so.9'), '/usr/lib/x86_64-linux-gnu/libcudnn.so.9');
  assert.equal(libs.get('libc.so.6'), '/lib/x86_64-linux-gnu/libc.so.6');
  assert.equal(libs.get('libcuda.so.1'), '/usr/local/nvidia/lib64/libcuda.so.1', 'the first entry is the one the loader uses');
  assert.equal(libs.size, 4);
});

test('libraryFix says what to install', () => {
  assert.equal(libraryFix('libcublasLt.so.13'), 'install cuBLAS 13 or add its folder to LD_LIBRARY_PATH');
  assert.equal(libraryFix('libcuda.so.1'), 'install the NVIDIA driver');
  assert.match(libraryFix('libcurand.so.10'), /cuRAND 10/);
  assert.match(libraryFix('libfoo.so.1'), /install it or add its folder to LD_LIBRARY_PATH/);
});

test('findLibrary looks in LD_LIBRARY_PATH folders', async () => {
  const dir = await scratch();
  await writeFile(join(dir, CUDNN), '');
  assert.equal(await findLibrary(CUDNN, { LD_LIBRARY_PATH: `/nonexistent:${dir}` }), join(dir, CUDNN));
  assert.equal(await findLibrary('libgemma-test-absent.so.1', { LD_LIBRARY_PATH: dir }), undefined);
});

test('providerStatus lists present and missing provider files', async () => {
  const dir = await scratch();
  const empty = await providerStatus(dir, {});
  assert.deepEqual(empty.files.map((f) => f.present), [false, false]);
  assert.deepEqual(empty.missingLibraries, []);
  await writeFile(join(dir, SHARED_LIB), 'x');
  await writeFile(join(dir, CUDA_LIB), 'not an ELF file');
  const some = await providerStatus(dir, {});
  assert.deepEqual(some.files.map((f) => [f.name, f.present]), [[SHARED_LIB, true], [CUDA_LIB, true]]);
  assert.match(some.lddNote ?? '', /ldd .* failed/);
});

test('readinessProblems: one phrase per problem, each with its fix', () => {
  const status = (present: boolean[], missing: string[]): ProviderStatus => ({
    dir: '/ort', missingLibraries: missing, cudnn: { name: CUDNN },
    files: [SHARED_LIB, CUDA_LIB].map((name, i) => ({ name, path: `/ort/${name}`, present: present[i]! })),
  });
  assert.deepEqual(readinessProblems('/proc/driver/nvidia missing', 0, status([false, false], [])), [
    'no NVIDIA GPU found (/proc/driver/nvidia missing)',
    'CUDA provider libraries not installed (run: gemma setup cuda)',
  ]);
  assert.deepEqual(readinessProblems(undefined, 1, status([true, false], [])), [`${CUDA_LIB} missing in /ort (run: gemma setup cuda)`]);
  assert.deepEqual(readinessProblems(undefined, 1, status([true, true], ['libcublasLt.so.13'])), [
    'libcublasLt.so.13 not found (install cuBLAS 13 or add its folder to LD_LIBRARY_PATH)',
  ]);
  assert.deepEqual(readinessProblems(undefined, 1, status([true, true], [])), []);
});

test('cudaReadiness on a machine without a GPU or libraries is not ready', async () => {
  const dir = await scratch();
  const readiness = await cudaReadiness({ dir, gpu: { procDir: join(dir, 'no-proc'), nvidiaSmi: join(dir, 'no-smi') } });
  assert.equal(readiness.ready, false);
  assert.deepEqual(readiness.problems, [`no NVIDIA GPU found (${join(dir, 'no-proc')} missing)`, 'CUDA provider libraries not installed (run: gemma setup cuda)']);
});
