import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { RemoteFile } from './hub-api.js';

/** The digest a file is known by on the Hub: sha256 for LFS files, git's blob sha1 for the others. */
export interface ContentHash {
  name: 'sha256' | 'git sha1';
  update(chunk: Uint8Array): void;
  hex(): string;
}

export function contentHash(file: Pick<RemoteFile, 'lfs' | 'size'>): ContentHash {
  if (file.lfs) {
    const h = createHash('sha256');
    return { name: 'sha256', update: (c) => h.update(c), hex: () => h.digest('hex') };
  }
  // git hashes "blob <size>\0" followed by the content.
  const h = createHash('sha1').update(`blob ${file.size}\0`);
  return { name: 'git sha1', update: (c) => h.update(c), hex: () => h.digest('hex') };
}

/** Feeds the first `bytes` of a file (a partial download being resumed) into the hash. */
export async function hashPrefix(path: string, bytes: number, hash: ContentHash): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
}
