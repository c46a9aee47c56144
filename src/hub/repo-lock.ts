import { join } from 'node:path';
import { GemmaError } from '../util/errors.js';
import { acquireLock } from '../util/pid-lock.js';
import { fsFailure } from './fs-failure.js';
import { repoFolderName } from './repo-id.js';

/** How to wait while another live gemma process holds the lock; without it, lockRepo refuses at once. */
export interface RepoLockWait {
  onWait: (owner: number) => void;
  signal?: AbortSignal;
}

/**
 * One gemma pull per repo at a time: two writers on the same partial file would only waste the
 * transfer. The lock sits in huggingface_hub's `.locks/` folder and holds the owner's pid, so a
 * lock left by a killed process is recognised and taken over. While a live process holds it,
 * waits for it when `wait` is given, else refuses. Returns the release function.
 */
export async function lockRepo(cacheDir: string, repo: string, wait?: RepoLockWait): Promise<() => Promise<void>> {
  const path = join(cacheDir, '.locks', repoFolderName(repo), 'gemma-pull.lock');
  const refuse = (owner: number): Error => new GemmaError(`${repo} is being downloaded by another gemma process (pid ${owner}); wait for it to finish`);
  return acquireLock(path, wait ?? { refuse }).catch((err: unknown) => {
    if (err instanceof GemmaError || wait?.signal?.aborted) throw err;
    throw fsFailure(err, `creating ${path}`);
  });
}
