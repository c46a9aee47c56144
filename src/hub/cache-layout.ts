import { lstat, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { describeFsError, GemmaError } from '../util/errors.js';
import { makeDirs } from '../util/make-dirs.js';
import { isCommitHash, repoFolderName } from './repo-id.js';
import { isInside } from './safe-path.js';

/** One repo's folder in huggingface_hub's cache, shared with Python tools. */
export interface RepoCache {
  repo: string;
  root: string;
  blobs: string;
  snapshots: string;
  refs: string;
}

export function repoCache(cacheDir: string, repo: string): RepoCache {
  const root = join(cacheDir, repoFolderName(repo));
  return { repo, root, blobs: join(root, 'blobs'), snapshots: join(root, 'snapshots'), refs: join(root, 'refs') };
}

/** A blob is named by the file's sha256 (LFS) or git blob sha1: both come from the Hub and name a file, so both are checked. */
export function blobPath(cache: RepoCache, id: string): string {
  if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(id)) throw new GemmaError(`${cache.repo}: the Hub sent an invalid file hash ${JSON.stringify(id.slice(0, 80))}`);
  return join(cache.blobs, id);
}

/** A download in progress or interrupted, named after the blob it becomes once verified, as huggingface_hub names it. */
export const partialPath = (cache: RepoCache, id: string): string => `${blobPath(cache, id)}.incomplete`;

export function snapshotDir(cache: RepoCache, commit: string): string {
  if (!isCommitHash(commit)) throw new GemmaError(`${cache.repo}: the Hub sent an invalid commit hash ${JSON.stringify(commit.slice(0, 80))}`);
  return join(cache.snapshots, commit);
}

/** The commit a branch or tag pointed to when it was last pulled, if it is in the cache. */
export async function readRef(cache: RepoCache, revision: string): Promise<string | undefined> {
  const text = await readFile(join(cache.refs, revision), 'utf8').catch(() => undefined);
  const commit = text?.trim();
  return commit !== undefined && isCommitHash(commit) ? commit : undefined;
}

/** Written whole through a rename, without a newline: Python compares the file's content to the commit as is. */
export async function writeRef(cache: RepoCache, revision: string, commit: string): Promise<void> {
  const path = join(cache.refs, revision);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await makeDirs(dirname(path));
    await writeFile(tmp, commit);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw describeFsError(err, `writing ${path}`);
  }
}

/** Size of what `path` resolves to, or undefined if nothing usable is there (missing, dangling link, folder). */
export async function fileSize(path: string): Promise<number | undefined> {
  const info = await stat(path).catch(() => undefined);
  return info?.isFile() ? info.size : undefined;
}

/** Points `snapshots/<commit>/<file>` at its blob with a relative link, as huggingface_hub does, replacing a stale entry. */
export async function linkIntoSnapshot(dir: string, file: string, blob: string): Promise<void> {
  const link = join(dir, file);
  // Names are checked before they get here; this keeps any slip from writing outside the snapshot.
  if (!isInside(dir, link) || link === dir) throw new GemmaError(`refusing to write ${JSON.stringify(file)} outside ${dir}`);
  const target = relative(dirname(link), blob);
  try {
    const existing = await lstat(link).catch(() => undefined);
    if (existing?.isSymbolicLink() && (await readlink(link)) === target) return;
    await makeDirs(dirname(link));
    const tmp = `${link}.tmp-${process.pid}`;
    await rm(tmp, { force: true });
    await symlink(target, tmp);
    await rename(tmp, link);
  } catch (err) {
    throw describeFsError(err, `linking ${link}`);
  }
}
