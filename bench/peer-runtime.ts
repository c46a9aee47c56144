/**
 * llama.cpp as a benchmark peer, through node-llama-cpp's prebuilt CPU binaries. node-llama-cpp is deliberately not a
 * dependency of this package (CI runs `npm ci` without it): it is installed on demand into a git-ignored folder,
 * from the npm registry only. `--ignore-scripts` skips its postinstall, which would otherwise try to download or
 * build llama.cpp from GitHub; the prebuilt binary comes from the @node-llama-cpp/linux-x64 package, named
 * explicitly because `--omit=optional` keeps the CUDA and Vulkan variants (hundreds of MB) out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PEER_VERSION = '3.22.1';

/** The slice of node-llama-cpp's API the benchmark uses (its types are not available at compile time). */
export type ControlledItem = number | [number, { generateNext?: { logits?: boolean | { filter: { tokens: readonly number[] } } } }];
export interface PeerSequence {
  controlledEvaluate(input: ControlledItem[]): Promise<Array<undefined | { next: { logits?: Map<number, number> } }>>;
  clearHistory(): Promise<void>;
}
export interface PeerContext {
  getSequence(): PeerSequence;
  dispose(): Promise<void>;
}
export interface PeerModel {
  createContext(o: { contextSize: number; batchSize: number; threads: number; sequences: number; flashAttention?: boolean }): Promise<PeerContext>;
  readonly fileInfo: { tensorInfo?: ReadonlyArray<{ name: string; dimensions: ReadonlyArray<number | bigint> }> };
  readonly defaultContextFlashAttention: boolean | 'auto';
  dispose(): Promise<void>;
}
export interface PeerLlama {
  gpu: string | false;
  buildType: string;
  llamaCppRelease: { repo: string; release: string };
  systemInfo: string;
  loadModel(o: { modelPath: string; gpuLayers: number }): Promise<PeerModel>;
}
interface PeerModule {
  getLlama(o: { gpu: false; build: 'never'; progressLogs: boolean; logLevel: string }): Promise<PeerLlama>;
}

/** Installs node-llama-cpp into `dir` unless that exact version is already there. */
export async function ensurePeerInstalled(dir: string): Promise<string> {
  const pkg = join(dir, 'node_modules', 'node-llama-cpp', 'package.json');
  const installed = existsSync(pkg) ? (JSON.parse(await readFile(pkg, 'utf8')) as { version?: string }).version : undefined;
  if (installed === PEER_VERSION) return dir;
  await mkdir(dir, { recursive: true });
  const manifest = { name: 'gemma-bench-peer', private: true, type: 'module', dependencies: { 'node-llama-cpp': PEER_VERSION, '@node-llama-cpp/linux-x64': PEER_VERSION } };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  process.stderr.write(`installing node-llama-cpp@${PEER_VERSION} into ${dir} (npm registry, prebuilt linux-x64 binaries)\n`);
  const r = spawnSync('npm', ['install', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
  });
  if (r.status !== 0) throw new Error(`npm install of node-llama-cpp failed (exit ${r.status})`);
  return dir;
}

/** Loads llama.cpp's CPU backend from the peer folder, never building or downloading. */
export async function loadPeer(dir: string): Promise<PeerLlama> {
  await ensurePeerInstalled(dir);
  const entry = join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = 'true';
  const mod = (await import(pathToFileURL(entry).href)) as PeerModule;
  return mod.getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: 'error' });
}

/** Vocabulary size: the outer dimension of token_embd (ggml order is [hidden, vocab]). */
export function peerVocab(model: PeerModel): number {
  const dims = model.fileInfo.tensorInfo?.find((t) => t.name === 'token_embd.weight')?.dimensions;
  if (dims === undefined || dims.length !== 2) throw new Error('GGUF has no 2-D token_embd.weight');
  return Number(dims[1]);
}

/** Last-position (or every-position) logits for `tokens` appended to the sequence, as dense vocab-sized arrays. */
export async function peerLogits(seq: PeerSequence, tokens: number[], vocab: number, every: boolean): Promise<Float32Array[]> {
  const items: ControlledItem[] = tokens.map((t, i) => (every || i === tokens.length - 1 ? [t, { generateNext: { logits: true } }] : t));
  const results = await seq.controlledEvaluate(items);
  const out: Float32Array[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const map = results[i]?.next.logits;
    if (map === undefined) continue;
    const dense = new Float32Array(vocab).fill(-Infinity);
    for (const [id, v] of map) dense[id] = v;
    out.push(dense);
  }
  return out;
}
