import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../util/errors.js';
import { exportsDir } from '../util/paths.js';
import { scanRepo } from './cache-scan.js';
import { exportsExist, exportVariants } from './exports-scan.js';
import { isRepoId, repoFolderName } from './repo-id.js';
import { lockRepo } from './repo-lock.js';
import { printable } from './safe-path.js';

export interface Removed {
  name: string;
  /** Folders deleted: the repo's cache folder and its exports folder, as present. */
  paths: string[];
  bytes: number;
}

/** A name of exports made from a local folder: one plain path segment. */
const EXPORT_NAME = /^[A-Za-z0-9_][\w.-]*$/;

/**
 * Deletes a Hub model from the cache (blobs, snapshots, refs, locks) and its exports, or the
 * exports of a local model. Refused while a pull of it is running. Symlinks are removed, never followed.
 */
export async function removeModel(cacheDir: string, home: string, name: string): Promise<Removed> {
  const repo = isRepoId(name);
  if (!repo && !EXPORT_NAME.test(name)) throw new GemmaError(`not a model name: ${printable(name)} (expected org/name, or a name that gemma list shows)`);
  const cached = repo ? await scanRepo(cacheDir, name) : undefined;
  const hasExports = await exportsExist(home, name);
  if (cached === undefined && !hasExports) throw new GemmaError(`${name} is neither in ${cacheDir} nor in ${join(home, 'models')}`);
  const exportBytes = (await exportVariants(home, name)).reduce((sum, v) => sum + (v.bytes ?? 0), 0);
  const paths: string[] = [];
  const release = cached === undefined ? undefined : await lockRepo(cacheDir, name);
  try {
    if (cached !== undefined) paths.push(cached.root);
    if (hasExports) paths.push(exportsDir(home, name));
    for (const path of paths) await rm(path, { recursive: true, force: true });
  } finally {
    await release?.();
  }
  // A pull that was waiting for our lock may be creating its own in there (ENOTEMPTY): retried.
  if (cached !== undefined) await rm(join(cacheDir, '.locks', repoFolderName(name)), { recursive: true, force: true, maxRetries: 5 });
  return { name, paths, bytes: (cached ? cached.bytes + cached.partialBytes : 0) + exportBytes };
}
