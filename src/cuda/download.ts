import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
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
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

async function request(url: string, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, signal === undefined ? {} : { signal });
  } catch (err) {
    if (signal?.aborted === true) throw err;
    throw unreachableError(err, url);
  }
  if (!response.ok || response.body === null) {
    throw new GemmaError(`download of ${url} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  return response;
}

/** Downloads url into a new file dest (which must not exist), hashing on the way. */
export async function downloadTo(url: string, dest: string, options: DownloadOptions = {}): Promise<Downloaded> {
  const { signal, onProgress } = options;
  const response = await request(url, signal);
  const total = Number(response.headers.get('content-length') ?? 0) || 0;
  const hash = createHash('sha512');
  let bytes = 0;
  async function* counted(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      hash.update(chunk);
      bytes += chunk.length;
      onProgress?.({ bytes, total });
      yield chunk;
    }
  }
  const body = Readable.fromWeb(response.body as ReadableStream<Uint8Array>);
  try {
    await pipeline(body, counted, createWriteStream(dest, { flags: 'wx' }), signal === undefined ? {} : { signal });
  } catch (err) {
    // Filesystem errors and aborts are the caller's to report; anything else is the connection breaking.
    if (signal?.aborted === true || (err as NodeJS.ErrnoException).syscall !== undefined) throw err;
    throw new GemmaError(`download of ${url} was cut off after ${bytes}${total ? ` of ${total}` : ''} bytes; run the command again`);
  }
  if (total !== 0 && bytes !== total) throw new GemmaError(`download of ${url} was cut off after ${bytes} of ${total} bytes; run the command again`);
  return { bytes, integrity: `sha512-${hash.digest('base64')}` };
}
