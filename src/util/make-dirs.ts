import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GemmaError } from './errors.js';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

function notDirectory(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', syscall: 'mkdir', path });
}

/** The folders of `path` that do not exist yet, outermost first. */
async function missingFolders(path: string): Promise<string[]> {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    const found = await stat(p).catch((err: unknown) => (code(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    if (found !== undefined) {
      if (!found.isDirectory()) throw notDirectory(p);
      return missing.reverse();
    }
    missing.push(p);
    if (dirname(p) === p) return missing.reverse();
  }
}

/**
 * `mkdir -p`, one level at a time. Node 20's `mkdir(path, { recursive: true })` spins forever where a filesystem
 * answers ENOENT for a folder whose parent exists (/proc), and reports a read-only mount as ENOENT; here the first
 * refusal comes back with its own code (EROFS, EACCES, ...) for describeFsError.
 */
export async function makeDirs(path: string): Promise<void> {
  for (const dir of await missingFolders(path)) {
    try {
      await mkdir(dir);
    } catch (err) {
      // Another process may have created it meanwhile.
      if (code(err) === 'EEXIST') continue;
      if (code(err) === 'ENOENT') throw new GemmaError(`cannot create ${dir}: ${dirname(dir)} does not take new folders`);
      throw err;
    }
  }
}
