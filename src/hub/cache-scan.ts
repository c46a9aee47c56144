import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoCache, type RepoCache } from './cache-layout.js';
import { snapshotComplete } from './cached-snapshot.js';
import { isCommitHash, isRepoId } from './repo-id.js';

/** A model repo in huggingface_hub's cache, whichever tool downloaded it. */
export interface CachedRepo {
  repo: string;
  root: string;
  /** Branch or tag → commit, from refs/. */
  refs: Record<string, string>;
  /** Commits with a snapshot folder. */
  snapshots: string[];
  /** Those of `snapshots` that lack config.json or a weight file: a pull that failed, was interrupted or is running. */
  incompleteSnapshots: string[];
  /** A pull did not finish: a snapshot is incomplete, or there is none (only partial downloads); `gemma pull` resumes it. */
  incomplete: boolean;
  /** Complete blobs on disk. */
  bytes: number;
  /** Partial downloads (`*.incomplete`) that the next pull resumes. */
  partialBytes: number;
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

async function readRefs(cache: RepoCache): Promise<Record<string, string>> {
  const refs: Record<string, string> = {};
  const files = await readdir(cache.refs, { recursive: true }).catch(() => [] as string[]);
  for (const name of files.sort()) {
    const commit = (await readFile(join(cache.refs, name), 'utf8').catch(() => '')).trim();
    if (isCommitHash(commit)) refs[name] = commit;
  }
  return refs;
}

/** Sizes with lstat: blobs are plain files, and a symlink planted there must not be followed. */
async function blobBytes(cache: RepoCache): Promise<{ bytes: number; partialBytes: number }> {
  let bytes = 0;
  let partialBytes = 0;
  for (const name of await names(cache.blobs)) {
    const info = await lstat(join(cache.blobs, name)).catch(() => undefined);
    if (!info?.isFile()) continue;
    if (name.endsWith('.incomplete')) partialBytes += info.size;
    else bytes += info.size;
  }
  return { bytes, partialBytes };
}

export async function scanRepo(cacheDir: string, repo: string): Promise<CachedRepo | undefined> {
  const cache = repoCache(cacheDir, repo);
  if (!(await lstat(cache.root).then((s) => s.isDirectory(), () => false))) return undefined;
  const snapshots = (await names(cache.snapshots)).filter(isCommitHash).sort();
  const incompleteSnapshots: string[] = [];
  for (const commit of snapshots) if (!(await snapshotComplete(join(cache.snapshots, commit)))) incompleteSnapshots.push(commit);
  const incomplete = incompleteSnapshots.length > 0 || snapshots.length === 0;
  return { repo, root: cache.root, refs: await readRefs(cache), snapshots, incompleteSnapshots, incomplete, ...(await blobBytes(cache)) };
}

/** Every `models--org--name` folder in the cache, sorted by repo id; other repo types and odd names are skipped. */
export async function scanCache(cacheDir: string): Promise<CachedRepo[]> {
  const repos: CachedRepo[] = [];
  for (const name of (await names(cacheDir)).sort()) {
    const match = /^models--([^/]+)--([^/]+)$/.exec(name);
    const repo = match ? `${match[1]}/${match[2]}` : '';
    if (!isRepoId(repo)) continue;
    const found = await scanRepo(cacheDir, repo);
    if (found !== undefined) repos.push(found);
  }
  return repos;
}
