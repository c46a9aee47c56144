import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { GemmaError } from './errors.js';

function kind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a named pipe';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Throws a one-line error unless `s` (the stat of `path`) is a regular file. */
export function requireRegularFile(path: string, s: Stats): void {
  if (!s.isFile()) throw new GemmaError(`${path} is ${kind(s)}, not a file: put the file itself there`);
}

/**
 * Opens a file for reading and refuses anything but a regular file. O_NONBLOCK makes opening a named pipe return at
 * once instead of waiting for a writer (forever), so the check happens before any read can block; it changes nothing
 * for regular files. Open errors are left to the caller, which knows what the file is for.
 */
export async function openRegularFile(path: string): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    requireRegularFile(path, await handle.stat());
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The whole text of a regular file (see openRegularFile). */
export async function readRegularFile(path: string): Promise<string> {
  const handle = await openRegularFile(path);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
