import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CUDA_LIB, CUDA_PROVIDER_PACKAGE, SHARED_LIB, type ProviderPackage } from '../../src/cuda/provider-package.js';

export interface FakeProviderPackage {
  /** The scratch folder given, holding everything below. */
  root: string;
  tgz: string;
  tgzBytes: Buffer;
  /** The unpacked library folder, usable as --from. */
  libsDir: string;
  contents: Record<string, Buffer>;
  /** The real package description with this tarball's integrity and file hashes. */
  pkg: ProviderPackage;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** The 64-byte header of an x86-64 ELF shared library (type ET_DYN, machine EM_X86_64) over `body`. */
export function elfSharedLibrary(body: Buffer): Buffer {
  const header = Buffer.alloc(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header.writeUInt16LE(3, 16);
  header.writeUInt16LE(62, 18);
  return Buffer.concat([header, body]);
}

/** Bytes with the ORT version string inside, the way the real CUDA provider library carries it. */
function fakeCudaLib(bytes: number): Buffer {
  const lib = elfSharedLibrary(Buffer.from(Array.from({ length: bytes - 64 }, (_, i) => (i * 7919) % 251)));
  Buffer.from(`\0${CUDA_PROVIDER_PACKAGE.ortVersion}\0`).copy(lib, bytes >> 1);
  return lib;
}

/** A small tarball laid out like the real package (with the tensorrt library and Unity .meta files to skip). */
export async function fakeProviderPackage(root: string, cudaBytes = 300_000): Promise<FakeProviderPackage> {
  const libsDir = join(root, CUDA_PROVIDER_PACKAGE.dirInTarball);
  await mkdir(libsDir, { recursive: true });
  const contents: Record<string, Buffer> = { [SHARED_LIB]: elfSharedLibrary(Buffer.from('shared provider bridge\n')), [CUDA_LIB]: fakeCudaLib(cudaBytes) };
  for (const [name, data] of Object.entries(contents)) await writeFile(join(libsDir, name), data, { mode: 0o755 });
  await writeFile(join(libsDir, 'libonnxruntime_providers_tensorrt.so'), 'tensorrt');
  await writeFile(join(libsDir, `${CUDA_LIB}.meta`), 'unity');
  await writeFile(join(root, 'package', 'package.json'), '{}');
  const tgz = join(root, 'provider.tgz');
  execFileSync('tar', ['-czf', tgz, '-C', root, 'package']);
  const tgzBytes = await readFile(tgz);
  const pkg: ProviderPackage = {
    ...CUDA_PROVIDER_PACKAGE,
    integrity: `sha512-${createHash('sha512').update(tgzBytes).digest('base64')}`,
    tarballBytes: tgzBytes.length,
    files: CUDA_PROVIDER_PACKAGE.files.map((f) => ({ name: f.name, bytes: contents[f.name]!.length, sha256: sha256(contents[f.name]!) })),
  };
  return { root, tgz, tgzBytes, libsDir, contents, pkg };
}
