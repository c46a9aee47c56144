import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { GemmaError } from '../util/errors.js';
import { makeDirs } from '../util/make-dirs.js';
import { blobPath, fileSize, partialPath, type RepoCache } from './cache-layout.js';
import { contentHash, hashPrefix, type ContentHash } from './content-hash.js';
import { fsFailure } from './fs-failure.js';
import type { RemoteFile } from './hub-api.js';
import { abortable, idleTimer, networkError, TransientError, type IdleTimer } from './http.js';
import type { DownloadProgress } from './progress-events.js';
import { openFile, resolveUrl, type HttpContext, type LinkedInfo } from './resolve.js';
import { withRetries, type RetryPolicy } from './retry.js';

export interface BlobJob {
  http: HttpContext;
  cache: RepoCache;
  commit: string;
  file: RemoteFile;
  retry: RetryPolicy;
  idleTimeoutMs: number;
  report: (event: DownloadProgress) => void;
}

interface Attempt {
  digest: string;
  /** Some of the bytes came from an earlier attempt or run. */
  resumed: boolean;
}

/** The Hub must describe the same file its listing did; a partial download is only ever continued with its own bytes. */
function checkLinked(job: BlobJob, linked: LinkedInfo): void {
  const { file, commit } = job;
  const changed = (what: string, got: string, want: string): GemmaError =>
    new GemmaError(`${file.path}: the Hub now reports ${what} ${got.slice(0, 16)}, its listing said ${want.slice(0, 16)}; the repo changed while pulling, run the pull again`);
  if (linked.commit !== undefined && linked.commit !== commit) throw changed('commit', linked.commit, commit);
  if (file.lfs && linked.etag !== undefined && linked.etag !== file.blobId) throw changed('sha256', linked.etag, file.blobId);
  if (file.lfs && linked.size !== undefined && linked.size !== file.size) throw changed('size', String(linked.size), String(file.size));
}

/** Where the body starts: the requested offset for a matching 206, 0 when the server sent the whole file. */
async function bodyStart(response: Response, offset: number, size: number, part: string): Promise<number> {
  if (response.status === 200) return 0;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
  if (response.status === 206 && range !== null && Number(range[1]) === offset && (range[3] === '*' || Number(range[3]) === size)) return offset;
  // 416, or a range that is not the one asked for: the partial cannot be continued.
  void response.body?.cancel().catch(() => undefined);
  await rm(part, { force: true });
  throw new TransientError(`the server could not continue ${part} (HTTP ${response.status}); starting it again`);
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number, part: string): Promise<void> {
  try {
    // A write may be short (a nearly full disk): keep going until it fails or completes.
    for (let done = 0; done < chunk.length; ) done += (await handle.write(chunk, done, chunk.length - done, position + done)).bytesWritten;
  } catch (err) {
    throw fsFailure(err, `writing ${part}`);
  }
}

/** Streams the body into the partial file from `start`, hashing as it goes; returns the end position. */
async function writeBody(job: BlobJob, response: Response, part: string, start: number, hash: ContentHash, timer: IdleTimer): Promise<number> {
  const { file } = job;
  const handle = await open(part, start === 0 ? 'w' : 'r+').catch((err: unknown) => Promise.reject(fsFailure(err, `writing ${part}`)));
  const reader = response.body?.getReader();
  let position = start;
  let oversize = false;
  try {
    await handle.truncate(start);
    // A response without a body is an empty one.
    while (reader !== undefined) {
      const read = await abortable(reader.read(), timer.signal).catch((err: unknown) => Promise.reject(timer.signal.aborted ? timer.signal.reason : networkError(err, `downloading ${file.path}`)));
      if (read.done) break;
      timer.touch();
      oversize = position + read.value.length > file.size;
      if (oversize) break;
      await writeAll(handle, read.value, position, part);
      hash.update(read.value);
      position += read.value.length;
      job.report({ kind: 'bytes', path: file.path, bytes: read.value.length });
    }
    if (position === file.size) await handle.datasync();
  } finally {
    // Not awaited: after an aborted read, undici's cancel may never settle.
    void reader?.cancel().catch(() => undefined);
    await handle.close();
  }
  if (oversize) {
    await rm(part, { force: true });
    throw new GemmaError(`${file.path}: the Hub sent more than the ${file.size} bytes its listing gives; the download was deleted`);
  }
  return position;
}

/** One request: continues the partial file if there is one (LFS files only; small files are simply fetched again). */
async function attempt(job: BlobJob, part: string): Promise<Attempt> {
  const { file } = job;
  const existing = file.lfs ? (await fileSize(part)) ?? 0 : 0;
  const offset = existing <= file.size ? existing : 0;
  let hash = contentHash(file);
  await hashPrefix(part, offset, hash);
  if (offset === file.size) return { digest: hash.hex(), resumed: true };
  const timer = idleTimer(job.idleTimeoutMs, job.retry.signal);
  try {
    const headers: Record<string, string> = file.lfs ? { 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) } : {};
    const { response, linked } = await openFile(job.http, resolveUrl(job.http.endpoint, job.cache.repo, job.commit, file.path), headers, timer.signal);
    checkLinked(job, linked);
    const start = await bodyStart(response, offset, file.size, part);
    if (start < offset) {
      job.report({ kind: 'restart', path: file.path, reason: 'the server ignored the range request' });
      hash = contentHash(file);
    }
    job.report({ kind: 'start', path: file.path, size: file.size, offset: start });
    const end = await writeBody(job, response, part, start, hash, timer);
    if (end !== file.size) throw new TransientError(`connection closed after ${end} of ${file.size} bytes`);
    return { digest: hash.hex(), resumed: start > 0 };
  } finally {
    timer.done();
  }
}

/**
 * Makes `blobs/<id>` hold the file, verified against its sha256 (or git sha1), resuming from
 * `blobs/<id>.incomplete`. The partial file is named by content, as huggingface_hub names it,
 * so bytes of a different version can never be appended to it. Returns the bytes transferred.
 */
export async function fetchBlob(job: BlobJob): Promise<number> {
  const { file } = job;
  const final = blobPath(job.cache, file.blobId);
  if ((await fileSize(final)) === file.size) return 0;
  const part = partialPath(job.cache, file.blobId);
  await makeDirs(job.cache.blobs).catch((err: unknown) => Promise.reject(fsFailure(err, `creating ${job.cache.blobs}`)));
  let transferred = 0;
  const report = (event: DownloadProgress): void => {
    if (event.kind === 'bytes') transferred += event.bytes;
    job.report(event);
  };
  const policy: RetryPolicy = { ...job.retry, retryUnreachable: true, onRetry: (r) => job.report({ kind: 'retry', path: file.path, ...r }) };
  for (let fresh = false; ; fresh = true) {
    const result = await withRetries(policy, () => attempt({ ...job, report }, part));
    if (result.digest === file.blobId) break;
    await rm(part, { force: true });
    // A partial file from an earlier run may be what is wrong: start once more from nothing before giving up.
    if (result.resumed && !fresh) {
      job.report({ kind: 'restart', path: file.path, reason: 'the resumed download did not verify' });
      continue;
    }
    const hash = contentHash(file).name;
    throw new GemmaError(`${file.path}: the download does not match its ${hash} (expected ${file.blobId.slice(0, 16)}…, got ${result.digest.slice(0, 16)}…); it was deleted, nothing was kept`);
  }
  await rename(part, final).catch((err: unknown) => Promise.reject(fsFailure(err, `moving ${part} into place`)));
  return transferred;
}
