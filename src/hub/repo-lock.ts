import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GemmaError } from '../util/errors.js';
import { fsFailure } from './fs-failure.js';
import { repoFolderName } from './repo-id.js';

/** Polling starts fast, so that a short pull ahead of us costs little, and slows down for a long one. */
const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 1000;

/** How to wait while another live gemma process holds the lock; without it, lockRepo refuses at once. */
export interface LockWait {
  /** Called when the wait begins, and again whenever the lock passes to another live process. */
  onWait: (owner: number) => void;
  /** Aborting ends the wait, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A name next to the lock that no other process, nor another call in this one, uses. */
const privateName = (path: string, what: string): string => `${path}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`;

const readOwner = async (path: string): Promise<number> => Number(await readFile(path, 'utf8').catch(() => ''));

/** Codes of a filesystem without hard links (FAT, exFAT, some network mounts). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates the lock holding our pid, or returns false when it exists. The pid is written to a
 * private file first and linked into place, so the lock is never seen empty (an empty lock
 * would look like one left by a dead process and be taken over); without hard links, the lock
 * is created exclusively and then written.
 */
async function tryCreate(path: string): Promise<boolean> {
  const mine = privateName(path, 'new');
  const pid = String(process.pid);
  // Made on every try: `gemma rm` deletes the folder with the repo, maybe while a pull waits.
  await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => Promise.reject(fsFailure(err, `creating ${dirname(path)}`)));
  try {
    await writeFile(mine, pid);
    await link(mine, path).catch((err: NodeJS.ErrnoException) => (NO_LINKS.has(err.code ?? '') ? writeFile(path, pid, { flag: 'wx' }) : Promise.reject(err)));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsFailure(err, `creating ${path}`);
  } finally {
    await rm(mine, { force: true });
  }
}

/**
 * Removes a lock whose owner is dead. It is first renamed away, so that of two processes taking
 * it over at once only one gets it; a lock that turns out to hold a live owner (taken over and
 * re-created by another process in between) is put back.
 */
async function takeOver(path: string): Promise<void> {
  const stale = privateName(path, 'stale');
  if (!(await rename(path, stale).then(() => true, () => false))) return;
  if (alive(await readOwner(stale))) await link(stale, path).catch(() => undefined);
  await rm(stale, { force: true, recursive: true });
}

/**
 * One gemma pull per repo at a time: two writers on the same partial file would only waste the
 * transfer. The lock sits in huggingface_hub's `.locks/` folder and holds the owner's pid, so a
 * lock left by a killed process is recognised and taken over. While a live process holds it,
 * waits for it when `wait` is given (polling), else refuses. Returns the release function.
 */
export async function lockRepo(cacheDir: string, repo: string, wait?: LockWait): Promise<() => Promise<void>> {
  const path = join(cacheDir, '.locks', repoFolderName(repo), 'gemma-pull.lock');
  let waitingFor: number | undefined;
  let pollMs = FIRST_POLL_MS;
  while (!(await tryCreate(path))) {
    const owner = await readOwner(path);
    if (!alive(owner)) {
      await takeOver(path);
      continue;
    }
    if (wait === undefined) throw new GemmaError(`${repo} is being downloaded by another gemma process (pid ${owner}); wait for it to finish`);
    if (owner !== waitingFor) wait.onWait(owner);
    waitingFor = owner;
    await sleep(pollMs, undefined, { signal: wait.signal }).catch((err: unknown) => Promise.reject(wait.signal?.aborted ? wait.signal.reason : err));
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
  }
  return () => rm(path, { force: true });
}
