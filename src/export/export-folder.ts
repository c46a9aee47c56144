import { rmSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sourceChange, type SourceFiles } from '../checkpoint/source-files.js';
import { describeFsError, GemmaError } from '../util/errors.js';
import { cleanupOnExit } from '../util/exit-cleanup.js';
import { makeDirs } from '../util/make-dirs.js';
import { acquireLock, type LockWait } from '../util/pid-lock.js';
import { deadProcessFolders, tempFolderName, tempFolderPattern } from '../util/temp-folders.js';
import { exportFiles, GRAPH_CONTRACT, MANIFEST_FILE, type Manifest } from './manifest.js';

export interface FolderRequest extends LockWait {
  outDir: string;
  /** Keep an export at `outDir` made from the checkpoint as it is now, instead of converting again. */
  keepCurrent?: boolean;
  /** Called before an export that no longer matches its checkpoint is converted again (with `keepCurrent`). */
  onStale?: (why: string) => void;
}

export type ExportState = { kind: 'missing' } | { kind: 'current'; manifest: Manifest } | { kind: 'stale'; why: string };

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Whether the export at `outDir` was made, by this gemma's graph contract, from the checkpoint files `source` describes. */
export async function exportState(outDir: string, source: SourceFiles): Promise<ExportState> {
  const manifest = (await readJson(join(outDir, MANIFEST_FILE))) as Partial<Manifest> | null | undefined;
  if (manifest === undefined) return { kind: 'missing' };
  if (manifest === null || manifest.format !== 'gemma-onnx') return { kind: 'stale', why: `its ${MANIFEST_FILE} is damaged` };
  if (manifest.contract !== GRAPH_CONTRACT) return { kind: 'stale', why: `it was made for graph contract ${String(manifest.contract)}` };
  const files = manifest.source?.files;
  if (files === undefined) return { kind: 'stale', why: 'it was made by an earlier gemma, which did not record the checkpoint\'s files' };
  const change = sourceChange(files, source);
  return change === undefined ? { kind: 'current', manifest: manifest as Manifest } : { kind: 'stale', why: change };
}

/** Names an old manifest lists that are plain names inside the folder: the only files a new export may replace. */
const plainNames = (names: unknown[]): string[] =>
  names.filter((n): n is string => typeof n === 'string' && n !== '' && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\\'));

/** The files of the earlier export at `outDir` (none where there is no folder or an empty one); anything else there is refused. */
async function earlierExport(outDir: string): Promise<string[]> {
  const info = await lstat(outDir).catch(() => undefined);
  if (info === undefined || (info.isDirectory() && (await readdir(outDir)).length === 0)) return [];
  const manifest = info.isDirectory() ? ((await readJson(join(outDir, MANIFEST_FILE))) as Manifest | null | undefined) : undefined;
  if (manifest === undefined || manifest === null) throw new GemmaError(`output ${outDir} exists and is not a gemma export; choose another --out or remove it`);
  try {
    return plainNames(exportFiles(manifest));
  } catch {
    throw new GemmaError(`output ${outDir}: its ${MANIFEST_FILE} does not list the export's files; choose another --out or remove the folder`);
  }
}

/**
 * Moves the finished export from `tmp` into `outDir`. Over an earlier export, only the files its
 * manifest listed are replaced or removed: whatever else the user keeps in the folder stays.
 * The manifest goes first and comes back last, so a half-replaced folder never passes for an export.
 */
async function publish(tmp: string, outDir: string, earlier: string[]): Promise<void> {
  if ((await lstat(outDir).catch(() => undefined)) === undefined) {
    await rename(tmp, outDir);
    return;
  }
  const written = await readdir(tmp);
  const foreign = (await readdir(outDir)).find((name) => written.includes(name) && !earlier.includes(name));
  if (foreign !== undefined) throw new GemmaError(`output ${outDir} holds ${foreign}, which is not part of its earlier export; move it away or choose another --out`);
  await rm(join(outDir, MANIFEST_FILE), { force: true });
  for (const name of earlier.filter((n) => !written.includes(n))) {
    const info = await lstat(join(outDir, name)).catch(() => undefined);
    if (info !== undefined && !info.isDirectory()) await rm(join(outDir, name));
  }
  for (const name of [...written.filter((n) => n !== MANIFEST_FILE), MANIFEST_FILE]) await rename(join(tmp, name), join(outDir, name));
}

/** Writes an export into a fresh temporary sibling of `outDir` and publishes it; the temporary folder never outlives the call, nor the process. */
async function writeAndPublish(req: FolderRequest, write: (tmp: string) => Promise<Manifest>): Promise<Manifest> {
  const parent = dirname(req.outDir);
  const earlier = await earlierExport(req.outDir);
  for (const dead of await deadProcessFolders(parent, tempFolderPattern(basename(req.outDir)))) await rm(dead, { recursive: true, force: true });
  const tmp = join(parent, tempFolderName(basename(req.outDir)));
  const dispose = cleanupOnExit(() => rmSync(tmp, { recursive: true, force: true }));
  try {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp).catch((err: unknown) => Promise.reject(describeFsError(err, `cannot create output folder next to ${req.outDir}`)));
    const manifest = await write(tmp);
    req.signal?.throwIfAborted();
    await publish(tmp, req.outDir, earlier).catch((err: unknown) => Promise.reject(describeFsError(err, `writing ${req.outDir}`)));
    return manifest;
  } finally {
    dispose();
    // Fails only where the folder could never have been created (e.g. its parent is a file).
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Runs one export into `outDir` while holding the folder's lock (`.<name>.lock` beside it), so
 * that concurrent gemma processes take turns: a later one waits, then finds the export done.
 * Temporary folders of killed exports to the same place are swept first. Returns the manifest
 * and whether anything was converted.
 */
export async function intoExportFolder(req: FolderRequest, source: SourceFiles, write: (tmp: string) => Promise<Manifest>): Promise<{ manifest: Manifest; converted: boolean }> {
  const parent = dirname(req.outDir);
  // A file in the way (EEXIST) is reported by the lock file's creation, as "not a directory".
  const release = await makeDirs(parent)
    .catch((err: unknown) => ((err as NodeJS.ErrnoException).code === 'EEXIST' ? undefined : Promise.reject(err)))
    .then(() => acquireLock(join(parent, `.${basename(req.outDir)}.lock`), req))
    .catch((err: unknown) => Promise.reject(describeFsError(err, `cannot create output folder next to ${req.outDir}`)));
  try {
    if (req.keepCurrent) {
      const state = await exportState(req.outDir, source);
      if (state.kind === 'current') return { manifest: state.manifest, converted: false };
      if (state.kind === 'stale') req.onStale?.(state.why);
    }
    return { manifest: await writeAndPublish(req, write), converted: true };
  } finally {
    await release();
  }
}
