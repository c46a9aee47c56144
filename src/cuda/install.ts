import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { chmod, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GemmaError, describeFsError } from '../util/errors.js';
import { downloadTo, type DownloadProgress } from './download.js';
import { fileContains, fileIntegrity, hashFile, sharedLibraryProblem } from './file-checks.js';
import { integrityError, targetError } from './install-errors.js';
import { CUDA_PROVIDER_PACKAGE, npmRegistry, tarballUrl, type ProviderPackage } from './provider-package.js';
import { extractEntries } from './tar.js';

export interface InstallOptions {
  /** Where the libraries go: ortLibDir() for the CLI, a scratch folder in tests. */
  targetDir: string;
  /** A local .tgz of the package, or a folder that already holds the libraries; absent: download from the registry. */
  from?: string;
  /** Default: $npm_config_registry, else registry.npmjs.org. */
  registry?: string;
  pkg?: ProviderPackage;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

export interface InstalledFile {
  name: string;
  path: string;
  bytes: number;
  sha256: string;
  outcome: 'installed' | 'unchanged';
}

export interface InstallResult {
  dir: string;
  /** The tarball URL, or the --from path. */
  source: string;
  downloadedBytes: number;
  files: InstalledFile[];
}

interface Staged {
  name: string;
  temp: string;
  bytes: number;
  sha256: string;
}

type SourceKind = 'registry' | 'tarball' | 'folder';

/** Temporary names inside the target folder, so that the final rename is atomic and a failure leaves nothing behind. */
class Staging {
  private readonly temps = new Set<string>();

  constructor(private readonly dir: string) {}

  temp(label: string): string {
    const path = join(this.dir, `.gemma-${label}-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    this.temps.add(path);
    return path;
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.temps].map((path) => rm(path, { force: true })));
  }
}

async function sourceKind(from: string): Promise<SourceKind> {
  const found = await stat(from).catch(() => undefined);
  if (found === undefined) throw new GemmaError(`--from ${from}: no such file or folder`);
  return found.isDirectory() ? 'folder' : 'tarball';
}

async function checkTargetDir(dir: string): Promise<void> {
  let found: Stats;
  try {
    found = await stat(dir);
  } catch (err) {
    throw targetError(err, dir);
  }
  if (!found.isDirectory()) throw new GemmaError(`cannot install into ${dir}: not a folder`);
}

async function matches(path: string, want: { bytes: number; sha256: string }): Promise<boolean> {
  const found = await stat(path).catch(() => undefined);
  return found?.isFile() === true && found.size === want.bytes && (await hashFile(path, 'sha256', 'hex')) === want.sha256;
}

async function alreadyInstalled(dir: string, pkg: ProviderPackage): Promise<boolean> {
  for (const file of pkg.files) if (!(await matches(join(dir, file.name), file))) return false;
  return true;
}

async function stageArchive(source: Readable, pkg: ProviderPackage, staging: Staging, signal?: AbortSignal): Promise<Staged[]> {
  const entry = (name: string): string => `${pkg.dirInTarball}/${name}`;
  const wanted = new Map(pkg.files.map((f) => [entry(f.name), staging.temp(f.name)]));
  const extracted = await extractEntries(source, wanted, signal);
  return pkg.files.map((f) => {
    const got = extracted.get(entry(f.name))!;
    // The tarball passed its integrity check, so this only fails when the pinned description itself is wrong.
    if (got.bytes !== f.bytes || got.sha256 !== f.sha256) throw new GemmaError(`${entry(f.name)} in the archive is not the pinned build (sha256 ${got.sha256})`);
    return { name: f.name, temp: wanted.get(entry(f.name))!, ...got };
  });
}

async function stageTarball(path: string, pkg: ProviderPackage, staging: Staging, signal?: AbortSignal): Promise<Staged[]> {
  const integrity = await fileIntegrity(path);
  if (integrity !== pkg.integrity) throw integrityError(path, pkg.integrity, integrity);
  return stageArchive(createReadStream(path), pkg, staging, signal);
}

async function stageDownload(url: string, pkg: ProviderPackage, staging: Staging, o: InstallOptions): Promise<{ staged: Staged[]; bytes: number }> {
  const tgz = staging.temp('download');
  const got = await downloadTo(url, tgz, { maxBytes: pkg.tarballBytes, ...(o.signal && { signal: o.signal }), ...(o.onProgress && { onProgress: o.onProgress }) });
  if (got.integrity !== pkg.integrity) throw integrityError(url, pkg.integrity, got.integrity);
  return { staged: await stageArchive(createReadStream(tgz), pkg, staging, o.signal), bytes: got.bytes };
}

/**
 * Own builds (for fewer GPU architectures, say) may be smaller than the pinned ones, but not by this much:
 * a file under a tenth of the pinned size is not a build of that library.
 */
export const MIN_BUILD_FRACTION = 0.1;

/** A folder of libraries has no package hash to check: each must be a shared library of plausible size, and the version string ties them to this onnxruntime. */
async function checkFolder(folder: string, pkg: ProviderPackage): Promise<void> {
  for (const f of pkg.files) {
    const path = join(folder, f.name);
    if ((await stat(path).catch(() => undefined))?.isFile() !== true) throw new GemmaError(`--from ${folder}: no ${f.name} in it`);
    const problem = await sharedLibraryProblem(path, Math.ceil(f.bytes * MIN_BUILD_FRACTION));
    if (problem !== undefined) throw new GemmaError(`--from ${path}: ${problem}; give the folder of an onnxruntime ${pkg.ortVersion} CUDA build for Linux x86-64`);
  }
  const versioned = join(folder, pkg.versionFile);
  if (!(await fileContains(versioned, Buffer.from(`\0${pkg.ortVersion}\0`)))) {
    throw new GemmaError(`${versioned} is not built for onnxruntime ${pkg.ortVersion} (no version string ${pkg.ortVersion} in it)`);
  }
}

async function stageFolder(folder: string, pkg: ProviderPackage, staging: Staging): Promise<Staged[]> {
  await checkFolder(folder, pkg);
  const staged: Staged[] = [];
  for (const f of pkg.files) {
    const temp = staging.temp(f.name);
    // Streams rather than copyFile, whose errors name the source even when writing the target failed.
    await pipeline(createReadStream(join(folder, f.name)), createWriteStream(temp, { flags: 'wx' }));
    await chmod(temp, 0o755);
    staged.push({ name: f.name, temp, bytes: (await stat(temp)).size, sha256: await hashFile(temp, 'sha256', 'hex') });
  }
  return staged;
}

async function stage(kind: SourceKind, source: string, pkg: ProviderPackage, staging: Staging, o: InstallOptions): Promise<{ staged: Staged[]; bytes: number }> {
  if (kind === 'registry') return stageDownload(source, pkg, staging, o);
  const staged = kind === 'folder' ? await stageFolder(source, pkg, staging) : await stageTarball(source, pkg, staging, o.signal);
  return { staged, bytes: 0 };
}

/** Renames only after every file is staged, so an interruption before this point changes nothing in the target. */
async function commit(staged: Staged[], dir: string): Promise<InstalledFile[]> {
  const files: InstalledFile[] = [];
  for (const s of staged) {
    const path = join(dir, s.name);
    files.push({ name: s.name, path, bytes: s.bytes, sha256: s.sha256, outcome: (await matches(path, s)) ? 'unchanged' : 'installed' });
  }
  for (const [i, file] of files.entries()) if (file.outcome === 'installed') await rename(staged[i]!.temp, file.path);
  return files;
}

/** Errors that name a path outside the target folder concern the --from source. */
function describe(err: unknown, dir: string): unknown {
  const path = (err as NodeJS.ErrnoException | undefined)?.path;
  return path !== undefined && !path.startsWith(dir) ? describeFsError(err, path) : targetError(err, dir);
}

/** Puts the CUDA provider libraries into targetDir, from the registry, a local tarball or a folder. */
export async function installProviderLibs(o: InstallOptions): Promise<InstallResult> {
  const pkg = o.pkg ?? CUDA_PROVIDER_PACKAGE;
  const dir = resolve(o.targetDir);
  const kind = o.from === undefined ? 'registry' : await sourceKind(resolve(o.from));
  const source = o.from === undefined ? tarballUrl(pkg, o.registry ?? npmRegistry()) : resolve(o.from);
  await checkTargetDir(dir);
  // Only a download is worth skipping; a local source is still checked, so that a bad --from is reported.
  if (kind === 'registry' && (await alreadyInstalled(dir, pkg))) {
    const files = pkg.files.map((f) => ({ name: f.name, path: join(dir, f.name), bytes: f.bytes, sha256: f.sha256, outcome: 'unchanged' as const }));
    return { dir, source, downloadedBytes: 0, files };
  }
  const staging = new Staging(dir);
  try {
    const { staged, bytes } = await stage(kind, source, pkg, staging, o);
    return { dir, source, downloadedBytes: bytes, files: await commit(staged, dir) };
  } catch (err) {
    throw describe(err, dir);
  } finally {
    await staging.cleanup();
  }
}
