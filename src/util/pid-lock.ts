import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupOnExit } from './exit-cleanup.js';
import { makeDirs } from './make-dirs.js';

/** Whether a process with this id exists (EPERM: it exists but belongs to another user). */
export function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What to do while another live process holds the lock: wait for it (the default), or refuse. */
export interface LockWait {
  /** Aborting ends the wait, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /** Called when the wait begins, and again whenever the lock passes to another live process. */
  onWait?: (owner: number) => void;
  /** Given: no wait, the error it returns is thrown instead. */
  refuse?: (owner: number) => Error;
}

/** Polling starts fast, so that a short hold ahead of us costs little, and slows down for a long one. */
const FIRST_POLL_MS = 25;
const LAST_POLL_MS = 1000;

/** Codes of a filesystem without hard links (FAT, exFAT, some network mounts). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** A name next to the lock that no other process, nor another call in this one, uses. */
const privateName = (path: string, what: string): string => `${path}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`;

/** Locks this process holds: a lock file with our pid that is not among them was left by an earlier process that had our pid (containers reuse low pids). */
const held = new Set<string>();

/** The owner's pid, or 0 when the file is gone or holds no pid. */
const ownerOf = (path: string): Promise<number> => readFile(path, 'utf8').then((text) => Number(text) || 0, () => 0);

/**
 * Creates the lock holding our pid, or returns false when it exists. The pid is written to a
 * private file first and linked into place, so the lock is never seen empty (an empty lock
 * would look like one left by a dead process and be taken over); without hard links, the lock
 * is created exclusively and then written.
 */
async function tryCreate(path: string): Promise<boolean> {
  const mine = privateName(path, 'new');
  const pid = String(process.pid);
  // Made on every try: the folder may be deleted with what it locks (gemma rm) while we wait.
  await makeDirs(dirname(path));
  try {
    await writeFile(mine, pid);
    await link(mine, path).catch((err: NodeJS.ErrnoException) => (NO_LINKS.has(err.code ?? '') ? writeFile(path, pid, { flag: 'wx' }) : Promise.reject(err)));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(mine, { force: true });
  }
}

/**
 * Removes the lock of `owner`, found dead. It is first renamed away, so that of two processes
 * taking it over at once only one gets it; a lock that turns out to be another's (taken over
 * and re-created by another process in between) is put back.
 */
async function takeOver(path: string, owner: number): Promise<void> {
  const stale = privateName(path, 'stale');
  if (!(await rename(path, stale).then(() => true, () => false))) return;
  if ((await ownerOf(stale)) !== owner) await link(stale, path).catch(() => undefined);
  await rm(stale, { force: true, recursive: true });
}

/**
 * Takes the pid-file lock at `path`, waiting (polling with backoff) while another live process
 * holds it (this one included), or refusing where `wait.refuse` says so; a lock left by a dead
 * process (or by an earlier process with our pid) is taken over. The lock is released by the
 * returned function, or when the process exits without calling it. Filesystem errors are thrown
 * as they are.
 */
export async function acquireLock(path: string, wait: LockWait = {}): Promise<() => Promise<void>> {
  let pollMs = FIRST_POLL_MS;
  let reported = 0;
  for (;;) {
    wait.signal?.throwIfAborted();
    // A held lock is only read, so that waiting leaves nothing else beside it.
    let owner = await ownerOf(path);
    if (owner === 0 && (await tryCreate(path))) {
      held.add(path);
      const dispose = cleanupOnExit(() => rmSync(path, { force: true }));
      return async () => {
        dispose();
        // Removed before it is forgotten: a waiter in this process that read our pid meanwhile keeps waiting.
        await rm(path, { force: true });
        held.delete(path);
      };
    }
    owner ||= await ownerOf(path);
    if (owner === process.pid ? !held.has(path) : !alive(owner)) {
      await takeOver(path, owner);
      continue;
    }
    if (wait.refuse !== undefined) throw wait.refuse(owner);
    if (owner !== reported) wait.onWait?.(owner);
    reported = owner;
    await sleep(pollMs, undefined, wait.signal ? { signal: wait.signal } : {}).catch((err: unknown) => Promise.reject(wait.signal?.aborted ? wait.signal.reason : err));
    pollMs = Math.min(pollMs * 2, LAST_POLL_MS);
  }
}
