import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The digest of a file, read as a stream: the CUDA library is 230 MB. */
export async function hashFile(path: string, algorithm: 'sha256' | 'sha512', encoding: 'hex' | 'base64'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest(encoding);
}

/** The npm `integrity` string (Subresource Integrity form) of a file. */
export const fileIntegrity = async (path: string): Promise<string> => `sha512-${await hashFile(path, 'sha512', 'base64')}`;

/** Whether the bytes occur in the file, searching chunk by chunk with an overlap so a match across chunks counts. */
export async function fileContains(path: string, needle: Buffer): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    const window = Buffer.concat([tail, chunk as Buffer]);
    if (window.includes(needle)) return true;
    tail = window.subarray(Math.max(0, window.length - needle.length + 1));
  }
  return false;
}
