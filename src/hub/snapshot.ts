import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INDEX_FILE } from '../checkpoint/checkpoint.js';
import { GemmaError } from '../util/errors.js';
import { repoCache, snapshotDir, writeRef, type RepoCache } from './cache-layout.js';
import { cachedSnapshot } from './cached-snapshot.js';
import { fetchFiles, removeStaleParts, type FetchContext } from './fetch-files.js';
import { firstFiles, shardsOf } from './file-plan.js';
import { listRootFiles, MODEL_INFO, resolveCommit, type ApiContext } from './hub-api.js';
import { hubError } from './hub-errors.js';
import { UnreachableError } from './http.js';
import type { DownloadProgress } from './progress-events.js';
import { checkRepoId, checkRevision, isCommitHash } from './repo-id.js';
import { lockRepo } from './repo-lock.js';
import { hubSettings, type HubSettings } from './settings.js';
import { resolveToken } from './token.js';

export { isRepoId } from './repo-id.js';
export type { DownloadProgress } from './progress-events.js';

export interface SnapshotOptions {
  /** Branch, tag or commit; default `main`. */
  revision?: string;
  /** Overrides HF_TOKEN and the token file. */
  token?: string;
  /** Use the cache only (as HF_HUB_OFFLINE=1 does). */
  offline?: boolean;
  onProgress?: (event: DownloadProgress) => void;
  /** Aborting (also while waiting for another gemma pull of the repo) rejects with the signal's reason; partial downloads stay and resume next time. */
  signal?: AbortSignal;
}

export interface Snapshot {
  /** snapshots/<commit>: a checkpoint folder `gemma quantize` reads. */
  dir: string;
  commit: string;
  downloadedBytes: number;
  /** The Hub was not asked (offline mode) or could not be reached, and the cached copy is used. */
  fromCache: boolean;
}

async function offlineSnapshot(cache: RepoCache, revision: string): Promise<Snapshot> {
  const cached = await cachedSnapshot(cache, revision);
  if (cached === undefined) {
    throw new GemmaError(`offline mode (HF_HUB_OFFLINE) and ${cache.repo}@${revision} is not complete in the cache ${cache.root}; pull it once while online`);
  }
  return { ...cached, downloadedBytes: 0, fromCache: true };
}

async function readIndex(path: string, repo: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new GemmaError(`${repo}: ${INDEX_FILE} is not valid JSON`);
  }
}

/** Lists the commit's files and brings the wanted ones into its snapshot: small files and the index first, then the shards it names. */
async function download(api: ApiContext, ctx: FetchContext, revision: string): Promise<Snapshot> {
  const startedAt = Date.now();
  const listing = await listRootFiles(api, ctx.commit);
  const first = firstFiles(listing, ctx.cache.repo);
  let bytes = await fetchFiles(ctx, first.files);
  const shards = first.index ? shardsOf(await readIndex(join(ctx.dir, INDEX_FILE), ctx.cache.repo), listing, ctx.cache.repo) : [];
  bytes += await fetchFiles(ctx, shards);
  // As huggingface_hub does: a branch or tag name records its commit, a commit needs no ref.
  if (!isCommitHash(revision)) await writeRef(ctx.cache, revision, ctx.commit);
  await removeStaleParts(ctx.cache, new Set([...first.files, ...shards].map((f) => f.blobId)), startedAt);
  return { dir: ctx.dir, commit: ctx.commit, downloadedBytes: bytes, fromCache: false };
}

/** ensureSnapshot with explicit settings (tests use short retry delays). */
export async function pullSnapshot(repo: string, options: SnapshotOptions, settings: HubSettings): Promise<Snapshot> {
  checkRepoId(repo);
  const revision = checkRevision(options.revision ?? 'main');
  const cache = repoCache(settings.cacheDir, repo);
  if (options.offline === true || settings.offline) return offlineSnapshot(cache, revision);
  const token = await resolveToken(options.token, settings.envToken, settings.tokenFile);
  const errors = { endpoint: settings.endpoint, repo, revision, token, gated: false };
  const http = { endpoint: settings.endpoint, token: token?.value, fetch: globalThis.fetch };
  const retry = { attempts: settings.attempts, delayMs: settings.retryDelayMs, retryUnreachable: false, signal: options.signal };
  const api: ApiContext = { http, retry, errors, timeoutMs: settings.idleTimeoutMs };
  let commit: string;
  try {
    ({ commit, gated: errors.gated } = await resolveCommit(api));
  } catch (err) {
    const cached = err instanceof UnreachableError ? await cachedSnapshot(cache, revision) : undefined;
    if (cached !== undefined) return { ...cached, downloadedBytes: 0, fromCache: true };
    throw hubError(err, errors, { api: MODEL_INFO });
  }
  const report = options.onProgress ?? ((): void => undefined);
  const ctx: FetchContext = { http, cache, commit, dir: snapshotDir(cache, commit), retry, idleTimeoutMs: settings.idleTimeoutMs, errors, report };
  const release = await lockRepo(settings.cacheDir, repo, { onWait: (pid) => report({ kind: 'wait', pid }), signal: options.signal });
  try {
    return await download(api, ctx, revision);
  } finally {
    await release();
  }
}

/**
 * The local snapshot folder of a Hub model, downloading what is missing: config, tokenizer and
 * generation files and the safetensors weights, each verified, into huggingface_hub's cache
 * (HF_HUB_CACHE / HF_HOME), from HF_ENDPOINT. Library code: throws GemmaError, prints nothing.
 */
export function ensureSnapshot(repo: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  return pullSnapshot(repo, options, hubSettings(process.env));
}
