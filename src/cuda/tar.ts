import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { GemmaError } from '../util/errors.js';

/** What was written for one wanted entry. */
export interface Extracted {
  bytes: number;
  sha256: string;
}

const BLOCK = 512;
const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;
const damaged = (what: string): GemmaError => new GemmaError(`damaged archive: ${what}`);

/** Pulls exact byte counts out of a stream of chunks, so that entry data can be passed on without buffering it whole. */
class ByteReader {
  private head: Buffer = Buffer.alloc(0);

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  private async take(max: number): Promise<Buffer | undefined> {
    if (this.head.length === 0) {
      const next = await this.chunks.next();
      if (next.done === true) return undefined;
      this.head = next.value;
    }
    const piece = this.head.subarray(0, max);
    this.head = this.head.subarray(piece.length);
    return piece;
  }

  /** Exactly n bytes, or undefined when the stream ends cleanly before them. */
  async read(n: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    for (let got = 0; got < n;) {
      const piece = await this.take(n - got);
      if (piece === undefined) {
        if (got === 0) return undefined;
        throw damaged('it ends in the middle of a block');
      }
      parts.push(piece);
      got += piece.length;
    }
    return Buffer.concat(parts);
  }

  async *pieces(n: number): AsyncGenerator<Buffer> {
    for (let left = n; left > 0;) {
      const piece = await this.take(left);
      if (piece === undefined) throw damaged('it ends in the middle of an entry');
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const piece of this.pieces(n)) void piece;
  }
}

interface Header {
  name: string;
  size: number;
  type: string;
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(block: Buffer, offset: number, length: number): number {
  const digits = field(block, offset, length).trim();
  if (!/^[0-7]*$/.test(digits)) throw damaged(`bad number field '${digits}'`);
  return digits === '' ? 0 : parseInt(digits, 8);
}

function parseHeader(block: Buffer): Header {
  // The checksum is the byte sum with its own 8-byte field counted as spaces.
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (sum !== octal(block, 148, 8)) throw damaged('bad header checksum (not a tar file?)');
  const name = field(block, 0, 100);
  const prefix = block.toString('latin1', 257, 262) === 'ustar' ? field(block, 345, 155) : '';
  return { name: prefix === '' ? name : `${prefix}/${name}`, size: octal(block, 124, 12), type: field(block, 156, 1) || '0' };
}

/** Pax extended header records: "<length> <key>=<value>\n". */
export function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  for (let pos = 0; pos < data.length;) {
    const space = data.indexOf(0x20, pos);
    const length = Number(data.toString('latin1', pos, space));
    if (space < 0 || !Number.isInteger(length) || length <= 0 || pos + length > data.length) throw damaged('bad pax header');
    const record = data.toString('utf8', space + 1, pos + length - 1);
    const eq = record.indexOf('=');
    records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** Entry names are relative paths; one that is absolute or climbs out with `..` marks a malicious or broken archive. */
export function safeEntryName(name: string): string {
  const clean = name.replace(/^(\.\/)+/, '');
  if (clean.startsWith('/') || clean.split('/').includes('..')) throw damaged(`entry '${name}' points outside the archive folder`);
  return clean;
}

async function writeEntry(reader: ByteReader, size: number, dest: string, signal?: AbortSignal): Promise<Extracted> {
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const piece of reader.pieces(size)) {
      hash.update(piece);
      yield piece;
    }
  }
  // 'wx': the caller's temporary names are fresh, so an existing file means something else owns it.
  await pipeline(hashed(), createWriteStream(dest, { flags: 'wx', mode: 0o755 }), signal === undefined ? {} : { signal });
  await reader.skip(padded(size) - size);
  return { bytes: size, sha256: hash.digest('hex') };
}

async function readEntries(reader: ByteReader, wanted: ReadonlyMap<string, string>, signal?: AbortSignal): Promise<Map<string, Extracted>> {
  const done = new Map<string, Extracted>();
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    signal?.throwIfAborted();
    const block = await reader.read(BLOCK);
    if (block === undefined) throw damaged('it ends without the closing blocks');
    if (block.every((b) => b === 0)) return done;
    const header = parseHeader(block);
    if (header.type === 'L' || header.type === 'x' || header.type === 'g') {
      const size = header.size;
      const data = (await reader.read(padded(size))) ?? Buffer.alloc(0);
      if (header.type === 'L') longName = field(data, 0, size);
      if (header.type === 'x') pax = parsePax(data.subarray(0, size));
      continue;
    }
    const name = safeEntryName(pax.get('path') ?? longName ?? header.name);
    const size = pax.has('size') ? Number(pax.get('size')) : header.size;
    longName = undefined;
    pax = new Map();
    const dest = wanted.get(name);
    if (dest === undefined) await reader.skip(padded(size));
    else if (header.type !== '0' && header.type !== '7') throw damaged(`'${name}' is not a regular file`);
    else done.set(name, await writeEntry(reader, size, dest, signal));
  }
}

/**
 * Streams a .tgz and writes only the wanted entries (archive name → destination path, created fresh with mode 0755).
 * The whole archive is read, so that the gzip checksum at its end is checked too. Cleaning up after a failure is
 * the caller's: it chose the destinations.
 */
export async function extractEntries(source: Readable, wanted: ReadonlyMap<string, string>, signal?: AbortSignal): Promise<Map<string, Extracted>> {
  const gunzip = createGunzip();
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  try {
    const done = await readEntries(new ByteReader(gunzip[Symbol.asyncIterator]()), wanted, signal);
    const missing = [...wanted.keys()].filter((name) => !done.has(name));
    if (missing.length > 0) throw new GemmaError(`the archive has no ${missing.join(', ')}`);
    return done;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw damaged(`not gzip data or cut short (${(err as Error).message})`);
    throw err;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
