import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One library shipped in the provider package, with the size and sha256 it must have once extracted. */
export interface ProviderFile {
  name: string;
  bytes: number;
  sha256: string;
}

/** An npm package carrying onnxruntime's CUDA provider libraries. */
export interface ProviderPackage {
  name: string;
  version: string;
  /** The npm `dist.integrity` of the tarball (sha512, base64). */
  integrity: string;
  /** The tarball's size: a download is cut off there rather than filling the disk for an integrity check to fail. */
  tarballBytes: number;
  /** Folder inside the tarball that holds the libraries. */
  dirInTarball: string;
  /** The onnxruntime version the libraries were built for: the provider bridge needs an exact match. */
  ortVersion: string;
  /** The library that carries ortVersion as a string, which identifies a build that did not come from the tarball. */
  versionFile: string;
  files: readonly ProviderFile[];
}

export const SHARED_LIB = 'libonnxruntime_providers_shared.so';
export const CUDA_LIB = 'libonnxruntime_providers_cuda.so';

/**
 * The CUDA 13 provider libraries built for onnxruntime 1.29.0, repackaged for Unity on npm: onnxruntime-node's
 * own installer only fetches CUDA 12 builds from NuGet. The tensorrt library and the Unity .meta files are not needed.
 */
export const CUDA_PROVIDER_PACKAGE: ProviderPackage = {
  name: 'com.github.asus4.onnxruntime.linux-x64-gpu',
  version: '0.4.9',
  integrity: 'sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w==',
  tarballBytes: 179_145_956,
  dirInTarball: 'package/Plugins/Linux/x64',
  ortVersion: '1.29.0',
  versionFile: CUDA_LIB,
  files: [
    { name: SHARED_LIB, bytes: 14_632, sha256: 'c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772' },
    { name: CUDA_LIB, bytes: 229_780_440, sha256: '56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037' },
  ],
};

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

/** The npm registry, honouring npm's own override. */
export const npmRegistry = (env: NodeJS.ProcessEnv = process.env): string => env.npm_config_registry || DEFAULT_REGISTRY;

/** The tarball URL npm itself would use: <registry>/<name>/-/<unscoped name>-<version>.tgz. */
export function tarballUrl(pkg: ProviderPackage, registry: string): string {
  const base = registry.endsWith('/') ? registry : `${registry}/`;
  const unscoped = pkg.name.slice(pkg.name.lastIndexOf('/') + 1);
  return `${base}${pkg.name}/-/${unscoped}-${pkg.version}.tgz`;
}

function ortPackage(): { root: string; version: string } {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    const pkg = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }) : {};
    if (pkg.name === 'onnxruntime-node') return { root: dir, version: pkg.version ?? 'unknown' };
    if (dirname(dir) === dir) throw new Error(`package.json of onnxruntime-node not found above ${entry}`);
  }
}

/**
 * The folder holding onnxruntime-node's libonnxruntime.so.1: ORT loads the provider libraries by absolute path from
 * there, so this is the only place they work.
 */
export const ortLibDir = (): string => join(ortPackage().root, 'bin', 'napi-v6', process.platform, process.arch);

/** The installed onnxruntime-node version, read without loading the native library. */
export const ortNodeVersion = (): string => ortPackage().version;
