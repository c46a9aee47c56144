import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { findGpus, type GpuLookup } from './gpu.js';
import { CUDA_LIB, CUDA_PROVIDER_PACKAGE, ortLibDir } from './provider-package.js';

export interface ProviderFileStatus {
  name: string;
  path: string;
  present: boolean;
}

export interface ProviderStatus {
  dir: string;
  files: ProviderFileStatus[];
  /** Libraries the CUDA provider needs that the loader cannot find, by name (from ldd); empty when it is not installed. */
  missingLibraries: string[];
  /** Why ldd gave no answer, when it did not. */
  lddNote?: string;
  /** cuDNN is loaded only when a model needs it (convolutions), so its absence does not stop the provider from loading. */
  cudnn: { name: string; path?: string };
}

export interface Readiness {
  ready: boolean;
  /** An NVIDIA GPU is present, so a CUDA that is not ready is worth a notice. */
  gpu: boolean;
  /** What is missing, each with its fix. */
  problems: string[];
}

export const CUDNN = 'libcudnn.so.9';
const run = promisify(execFile);

/** The `libX => not found` lines of ldd output. */
export function parseLddMissing(text: string): string[] {
  return [...text.matchAll(/^\s*(\S+)\s+=>\s+not found\s*$/gm)].map((m) => m[1]!);
}

/** `ldconfig -p` lines ("\tlibcudnn.so.9 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.9"): name → first path. */
export function parseLdconfig(text: string): Map<string, string> {
  const libs = new Map<string, string>();
  for (const m of text.matchAll(/^\s+(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/gm)) if (!libs.has(m[1]!)) libs.set(m[1]!, m[3]!);
  return libs;
}

/** How to get a missing library, by what the CUDA provider links against. */
export function libraryFix(lib: string): string {
  if (lib.startsWith('libcuda.so')) return 'install the NVIDIA driver';
  const packages: [RegExp, string][] = [[/^libcublas/, 'cuBLAS 13'], [/^libcurand/, 'cuRAND 10'], [/^libcudart/, 'the CUDA 13 runtime'], [/^libcudnn/, 'cuDNN 9']];
  const what = packages.find(([pattern]) => pattern.test(lib))?.[1];
  return `install ${what ?? 'it'} or add its folder to LD_LIBRARY_PATH`;
}

const isFile = async (path: string): Promise<boolean> => (await stat(path).catch(() => undefined))?.isFile() === true;

/** Where the dynamic loader would find a library: LD_LIBRARY_PATH first, then the ldconfig cache. */
export async function findLibrary(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.LD_LIBRARY_PATH ?? '').split(delimiter).filter((d) => d !== '')) {
    if (await isFile(join(dir, name))) return join(dir, name);
  }
  const ldconfig = await run('ldconfig', ['-p'], { timeout: 10_000 }).catch(() => run('/sbin/ldconfig', ['-p'], { timeout: 10_000 })).catch(() => undefined);
  return ldconfig === undefined ? undefined : parseLdconfig(ldconfig.stdout).get(name);
}

async function lddMissing(lib: string, env: NodeJS.ProcessEnv): Promise<{ missing: string[]; note?: string }> {
  try {
    const { stdout } = await run('ldd', [lib], { timeout: 10_000, env });
    return { missing: parseLddMissing(stdout) };
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    return { missing: [], note: `ldd ${lib} failed: ${stderr || (err as Error).message}` };
  }
}

/** Which provider libraries are in dir, and which of their own dependencies the loader cannot find. */
export async function providerStatus(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<ProviderStatus> {
  const files = await Promise.all(CUDA_PROVIDER_PACKAGE.files.map(async ({ name }) => ({ name, path: join(dir, name), present: await isFile(join(dir, name)) })));
  const cuda = files.find((f) => f.name === CUDA_LIB)!;
  const ldd = cuda.present ? await lddMissing(cuda.path, env) : { missing: [] };
  const cudnnPath = await findLibrary(CUDNN, env);
  return {
    dir, files, missingLibraries: ldd.missing, ...(ldd.note !== undefined && { lddNote: ldd.note }),
    cudnn: cudnnPath === undefined ? { name: CUDNN } : { name: CUDNN, path: cudnnPath },
  };
}

/** Each reason the CUDA provider cannot work, as a short phrase with its fix. */
export function readinessProblems(gpuNote: string | undefined, gpuCount: number, status: ProviderStatus): string[] {
  const problems: string[] = [];
  if (gpuCount === 0) problems.push(`no NVIDIA GPU found (${gpuNote ?? 'none reported'})`);
  const absent = status.files.filter((f) => !f.present);
  if (absent.length === status.files.length) problems.push('CUDA provider libraries not installed (run: gemma setup cuda)');
  else for (const f of absent) problems.push(`${f.name} missing in ${status.dir} (run: gemma setup cuda)`);
  for (const lib of status.missingLibraries) problems.push(`${lib} not found (${libraryFix(lib)})`);
  return problems;
}

/** A cheap check, without creating a session: could the CUDA execution provider load here? */
export async function cudaReadiness(options: { dir?: string; gpu?: GpuLookup; env?: NodeJS.ProcessEnv } = {}): Promise<Readiness> {
  const [gpus, status] = await Promise.all([findGpus(options.gpu), providerStatus(options.dir ?? ortLibDir(), options.env)]);
  const problems = readinessProblems(gpus.note, gpus.gpus.length, status);
  return { ready: problems.length === 0, gpu: gpus.gpus.length > 0, problems };
}
