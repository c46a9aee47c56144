import { listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { GemmaError } from '../util/errors.js';
import { failOn, HttpStatusError, idleTimer, networkError, TransientError, UnreachableError } from './http.js';
import { hubError, type ErrorContext } from './hub-errors.js';
import { isCommitHash } from './repo-id.js';
import type { HttpContext } from './resolve.js';
import { withRetries, type RetryPolicy } from './retry.js';

/** A file of the repo at one commit, as the tree listing describes it. */
export interface RemoteFile {
  path: string;
  size: number;
  /** sha256 for LFS files, git blob sha1 otherwise: the blob's name in the cache and what its content is verified against. */
  blobId: string;
  lfs: boolean;
}

/** A listing is paged; a server that never stops paging is not the Hub. */
const MAX_FILES = 100_000;

export interface ApiContext {
  http: HttpContext;
  retry: RetryPolicy;
  errors: ErrorContext;
  /** Per request, body included. */
  timeoutMs: number;
}

/**
 * The fetch handed to @huggingface/hub: retries 429/5xx, dropped connections and stalls, and
 * throws typed errors for other failures so that they keep the Hub's X-Error-Code. API answers
 * are small JSON, read whole here so that the timeout covers the body as well.
 */
function apiFetch(ctx: ApiContext): typeof fetch {
  return (input, init) =>
    withRetries({ ...ctx.retry, retryUnreachable: false }, async () => {
      const timer = idleTimer(ctx.timeoutMs, ctx.retry.signal);
      try {
        const response = await ctx.http.fetch(input, { ...init, signal: timer.signal });
        if (!response.ok) return await failOn(response);
        return new Response(await response.arrayBuffer(), { status: response.status, headers: response.headers });
      } catch (err) {
        if (timer.signal.aborted) throw timer.signal.reason;
        if (err instanceof TransientError || err instanceof HttpStatusError) throw err;
        throw networkError(err, new URL(String(input instanceof Request ? input.url : input)).origin);
      } finally {
        timer.done();
      }
    });
}

/** `what` names the request in messages: "the model info", "the file list". */
async function call<T>(ctx: ApiContext, what: string, run: (hubFetch: typeof fetch) => Promise<T>): Promise<T> {
  try {
    return await run(apiFetch(ctx));
  } catch (err) {
    if (err instanceof SyntaxError) throw new GemmaError(`the Hub at ${ctx.http.endpoint} sent an answer that is not JSON`);
    // Left for the caller, which may fall back to the cached copy.
    if (err instanceof UnreachableError) throw err;
    throw hubError(err, ctx.errors, { api: what });
  }
}

export const MODEL_INFO = 'the model info';

/** The commit a branch, tag or commit names, and whether the repo is gated. */
export async function resolveCommit(ctx: ApiContext): Promise<{ commit: string; gated: boolean }> {
  const { repo, revision } = ctx.errors;
  const info = await call(ctx, MODEL_INFO, (fetch) =>
    modelInfo({ name: repo, revision, hubUrl: ctx.http.endpoint, accessToken: ctx.http.token, additionalFields: ['sha'], fetch }),
  );
  if (typeof info.sha !== 'string' || !isCommitHash(info.sha)) throw new GemmaError(`the Hub sent no valid commit hash for ${repo}@${revision}`);
  return { commit: info.sha, gated: info.gated === 'auto' || info.gated === 'manual' };
}

function remoteFile(entry: ListFileEntry, repo: string): RemoteFile {
  const lfs = entry.lfs;
  const blobId = lfs !== undefined ? lfs.oid : entry.oid;
  const size = lfs !== undefined ? lfs.size : entry.size;
  if (typeof entry.path !== 'string' || typeof blobId !== 'string' || !Number.isSafeInteger(size) || size < 0) {
    throw new GemmaError(`the Hub's file listing for ${repo} has a malformed entry`);
  }
  return { path: entry.path, size, blobId, lfs: lfs !== undefined };
}

/** Files at the top of the repo at `commit` (gemma needs nothing from subfolders). */
export async function listRootFiles(ctx: ApiContext, commit: string): Promise<RemoteFile[]> {
  const repo = ctx.errors.repo;
  return call(ctx, 'the file list', async (fetch) => {
    const files: RemoteFile[] = [];
    for await (const entry of listFiles({ repo: { type: 'model', name: repo }, revision: commit, hubUrl: ctx.http.endpoint, accessToken: ctx.http.token, fetch })) {
      if (entry?.type === 'file') files.push(remoteFile(entry, repo));
      if (files.length > MAX_FILES) throw new GemmaError(`the Hub's file listing for ${repo} has more than ${MAX_FILES} files at its top level`);
    }
    return files;
  });
}
