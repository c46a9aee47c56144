import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { alive } from './pid-lock.js';

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The hidden sibling `.<name>.tmp-<pid>` an export is written into before it is renamed into place. */
export const tempFolderName = (name: string, pid = process.pid): string => `.${name}.tmp-${pid}`;

/** Matches `tempFolderName` names, of one folder name or of any; the first group is the pid. */
export const tempFolderPattern = (name?: string): RegExp => new RegExp(`^\\.${name === undefined ? '.+' : escape(name)}\\.tmp-(\\d+)$`);

/**
 * Folders (not links, not files) in `parent` whose name matches `pattern` and whose process,
 * named by the pattern's first group, no longer runs: work a killed process left behind.
 */
export async function deadProcessFolders(parent: string, pattern: RegExp): Promise<string[]> {
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .filter((e) => {
      const pid = pattern.exec(e.name)?.[1];
      return pid !== undefined && !alive(Number(pid));
    })
    .map((e) => join(parent, e.name))
    .sort();
}

/** Bytes of the regular files under `path` (links are not followed). */
export async function folderBytes(path: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) return info?.isFile() ? info.size : 0;
  let total = 0;
  for (const entry of await readdir(path).catch(() => [])) total += await folderBytes(join(path, entry));
  return total;
}
