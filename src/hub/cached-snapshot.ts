import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INDEX_FILE, SINGLE_FILE } from '../checkpoint/checkpoint.js';
import { fileSize, readRef, type RepoCache } from './cache-layout.js';
import { isCommitHash } from './repo-id.js';
import { unsafePathReason } from './safe-path.js';

/** Config and every weight file present: what a pull guarantees, whichever tool made the snapshot. */
export async function snapshotComplete(dir: string): Promise<boolean> {
  if ((await fileSize(join(dir, 'config.json'))) === undefined) return false;
  const index = await readFile(join(dir, INDEX_FILE), 'utf8').catch(() => undefined);
  if (index === undefined) return (await fileSize(join(dir, SINGLE_FILE))) !== undefined;
  let map: unknown;
  try {
    map = (JSON.parse(index) as { weight_map?: unknown } | null)?.weight_map;
  } catch {
    return false;
  }
  if (typeof map !== 'object' || map === null) return false;
  for (const name of new Set(Object.values(map))) {
    if (typeof name !== 'string' || unsafePathReason(name) !== undefined || (await fileSize(join(dir, name))) === undefined) return false;
  }
  return true;
}

/** The complete snapshot a branch, tag or commit names in the cache, without asking the Hub. */
export async function cachedSnapshot(cache: RepoCache, revision: string): Promise<{ dir: string; commit: string } | undefined> {
  const commit = isCommitHash(revision) ? revision : await readRef(cache, revision);
  if (commit === undefined) return undefined;
  const dir = join(cache.snapshots, commit);
  return (await snapshotComplete(dir)) ? { dir, commit } : undefined;
}
