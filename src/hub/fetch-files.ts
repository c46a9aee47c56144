import { readdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../util/errors.js';
import { makeDirs } from '../util/make-dirs.js';
import { fetchBlob } from './blob-download.js';
import { blobPath, fileSize, linkIntoSnapshot, partialPath, type RepoCache } from './cache-layout.js';
import { fsFailure } from './fs-failure.js';
import type { RemoteFile } from './hub-api.js';
import { hubError, type ErrorContext } from './hub-errors.js';
import { runPool } from './pool.js';
import type { DownloadProgress } from './progress-events.js';
import type { HttpContext } from './resolve.js';
import type { RetryPolicy } from './retry.js';

/** Parallel transfers: enough to fill a fast link from a CDN, few enough to keep progress readable. */
const PARALLEL = 3;

export interface FetchContext {
  http: HttpContext;
  cache: RepoCache;
  commit: string;
  /** snapshots/<commit> */
  dir: string;
  retry: RetryPolicy;
  idleTimeoutMs: number;
  errors: ErrorContext;
  report: (event: DownloadProgress) => void;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** Bytes of the file a partial download holds that the next attempt continues from (LFS files only; small files start over). */
async function keptBytes(ctx: FetchContext, file: RemoteFile): Promise<number> {
  return file.lfs ? Math.min((await fileSize(partialPath(ctx.cache, file.blobId))) ?? 0, file.size) : 0;
}

/** Refuses to start what cannot finish: the bytes still to come must fit on the cache's disk. */
async function checkSpace(ctx: FetchContext, missing: RemoteFile[]): Promise<void> {
  let need = 0;
  for (const file of missing) need += file.size - (await keptBytes(ctx, file));
  await makeDirs(ctx.cache.blobs).catch((err: unknown) => Promise.reject(fsFailure(err, `creating ${ctx.cache.blobs}`)));
  const disk = await statfs(ctx.cache.blobs);
  const free = disk.bavail * disk.bsize;
  if (need > free) throw new GemmaError(`not enough disk space for ${ctx.cache.repo}: it needs ${mb(need)} more in ${ctx.cache.root}, ${mb(free)} is free`);
}

/** Files whose snapshot entry is missing or has the wrong size; an entry whose blob is already cached is just linked. */
async function missingFiles(ctx: FetchContext, files: RemoteFile[]): Promise<RemoteFile[]> {
  const missing: RemoteFile[] = [];
  for (const file of files) {
    if ((await fileSize(join(ctx.dir, file.path))) === file.size) continue;
    const blob = blobPath(ctx.cache, file.blobId);
    if ((await fileSize(blob)) === file.size) await linkIntoSnapshot(ctx.dir, file.path, blob);
    else missing.push(file);
  }
  return missing;
}

/** Brings the files into snapshots/<commit>, downloading what no snapshot has yet; returns the bytes transferred. */
export async function fetchFiles(ctx: FetchContext, files: RemoteFile[]): Promise<number> {
  const missing = await missingFiles(ctx, files);
  if (missing.length === 0) return 0;
  await checkSpace(ctx, missing);
  ctx.report({ kind: 'plan', files: missing.map(({ path, size }) => ({ path, size })) });
  return runPool(missing, PARALLEL, ctx.retry.signal, async (file, signal) => {
    let bytes: number;
    try {
      bytes = await fetchBlob({ ...ctx, file, retry: { ...ctx.retry, signal } });
    } catch (err) {
      throw hubError(err, ctx.errors, { file: file.path, resumable: (await keptBytes(ctx, file)) > 0 });
    }
    await linkIntoSnapshot(ctx.dir, file.path, blobPath(ctx.cache, file.blobId));
    ctx.report({ kind: 'done', path: file.path, size: file.size });
    return bytes;
  });
}

/**
 * Partial files of versions this pull did not want (the branch moved on) would stay forever.
 * Only those untouched since the pull began are removed, so a concurrent Python download keeps its own.
 */
export async function removeStaleParts(cache: RepoCache, wanted: Set<string>, since: number): Promise<void> {
  const names = await readdir(cache.blobs).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith('.incomplete') || wanted.has(name.slice(0, -'.incomplete'.length))) continue;
    const path = join(cache.blobs, name);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && info.mtimeMs < since) await rm(path, { force: true });
  }
}
