import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupOnExit } from './exit-cleanup.js';

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

export interface LockWait {
  signal?: AbortSignal;
  /** Called when the lock is found held by another live process, and again whenever its owner changes. */
  onWait?: (owner: number) => void;
}

const FIRST_POLL_MS = 25;
const LAST_POLL_MS = 500;

/** The owner's pid, or 0 when the file is gone or holds no pid. */
const ownerOf = (path: string): Promise<number> => readFile(path, 'utf8').then((text) => Number(text) || 0, () => 0);

/**
 * Creates the lock file holding our pid, atomically: it is written under a private name and
 * hard-linked into place, so that no one ever reads it half written. False when it exists.
 */
async function tryCreate(path: string): Promise<boolean> {
  const mine = `${path}.${process.pid}`;
  await writeFile(mine, String(process.pid));
  try {
    await link(mine, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    await rm(mine, { force: true });
  }
}

/**
 * Takes the pid-file lock at `path`, waiting (polling with backoff) while another live process
 * holds it; a lock left by a dead process is taken over. The lock is released by the returned
 * function, or when the process exits without calling it. Filesystem errors are thrown as they are.
 */
export async function acquireLock(path: string, wait: LockWait = {}): Promise<() => Promise<void>> {
  let pollMs = FIRST_POLL_MS;
  let reported = 0;
  for (;;) {
    wait.signal?.throwIfAborted();
    if (await tryCreate(path)) {
      const dispose = cleanupOnExit(() => rmSync(path, { force: true }));
      return async () => {
        dispose();
        await rm(path, { force: true });
      };
    }
    const owner = await ownerOf(path);
    // Our own pid in the file is a leftover of an earlier process that had it: we never nest locks.
    if (owner === process.pid || !alive(owner)) {
      // Checked again just before removing, so that a lock another waiter has just taken over stays.
      if ((await ownerOf(path)) === owner) await rm(path, { force: true });
      continue;
    }
    if (owner !== reported) wait.onWait?.(owner);
    reported = owner;
    await sleep(pollMs, undefined, wait.signal ? { signal: wait.signal } : {});
    pollMs = Math.min(pollMs * 2, LAST_POLL_MS);
  }
}
