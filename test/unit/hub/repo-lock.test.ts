import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { lockRepo } from '../../../src/hub/repo-lock.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-repo-lock-');
const REPO = 'google/gemma-2-2b-it';
const lockDir = (cacheDir: string): string => join(cacheDir, '.locks', 'models--google--gemma-2-2b-it');
const lockFile = (cacheDir: string): string => join(lockDir(cacheDir), 'gemma-pull.lock');

/** A live process other than this one, standing in for another gemma pull. */
function otherProcess(): { child: ChildProcess; pid: number; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  return { child, pid: child.pid!, exited: new Promise((ok) => child.on('exit', ok)) };
}

async function heldBy(pid: number): Promise<string> {
  const cacheDir = await scratch();
  await mkdir(lockDir(cacheDir), { recursive: true });
  await writeFile(lockFile(cacheDir), String(pid));
  return cacheDir;
}

/** lockRepo with a wait, and a promise that settles when it starts waiting. */
function waitingLock(cacheDir: string, signal?: AbortSignal): { owners: number[]; waiting: Promise<void>; locked: Promise<() => Promise<void>> } {
  const owners: number[] = [];
  let started = (): void => undefined;
  const waiting = new Promise<void>((ok) => (started = ok));
  const locked = lockRepo(cacheDir, REPO, { onWait: (pid) => (owners.push(pid), started()), signal });
  return { owners, waiting, locked };
}

test('without a wait, a lock held by a live process is refused; one of a dead process is taken over', async () => {
  const other = otherProcess();
  try {
    const cacheDir = await heldBy(other.pid);
    await assert.rejects(lockRepo(cacheDir, REPO), new RegExp(`^GemmaError: google/gemma-2-2b-it is being downloaded by another gemma process \\(pid ${other.pid}\\)`));
    await writeFile(lockFile(cacheDir), '999999999');
    const release = await lockRepo(cacheDir, REPO);
    assert.equal(await readFile(lockFile(cacheDir), 'utf8'), String(process.pid));
    await release();
    assert.deepEqual(await readdir(lockDir(cacheDir)), []);
  } finally {
    other.child.kill();
  }
});

test('with a wait: reported once with the owner, then taken when the owner releases it, or when gemma rm deletes the lock folder', async () => {
  const other = otherProcess();
  const releases = [(cacheDir: string) => rm(lockFile(cacheDir)), (cacheDir: string) => rm(join(cacheDir, '.locks'), { recursive: true, maxRetries: 5 })];
  try {
    for (const ownerRelease of releases) {
      const cacheDir = await heldBy(other.pid);
      const lock = waitingLock(cacheDir);
      await lock.waiting;
      await ownerRelease(cacheDir);
      const release = await lock.locked;
      assert.deepEqual(lock.owners, [other.pid]);
      assert.equal(await readFile(lockFile(cacheDir), 'utf8'), String(process.pid));
      await release();
    }
  } finally {
    other.child.kill();
  }
});

test('with a wait: an owner that dies while holding the lock is taken over', async () => {
  const other = otherProcess();
  const cacheDir = await heldBy(other.pid);
  const lock = waitingLock(cacheDir);
  await lock.waiting;
  other.child.kill('SIGKILL');
  await other.exited;
  const release = await lock.locked;
  assert.equal(await readFile(lockFile(cacheDir), 'utf8'), String(process.pid));
  await release();
  assert.deepEqual(await readdir(lockDir(cacheDir)), []);
});

test('aborting the wait rejects with the reason and leaves the owner\'s lock alone', async () => {
  const other = otherProcess();
  try {
    const cacheDir = await heldBy(other.pid);
    const controller = new AbortController();
    const lock = waitingLock(cacheDir, controller.signal);
    await lock.waiting;
    const reason = new Error('Ctrl-C');
    controller.abort(reason);
    await assert.rejects(lock.locked, (err) => err === reason);
    assert.deepEqual(await readdir(lockDir(cacheDir)), ['gemma-pull.lock']);
    assert.equal(await readFile(lockFile(cacheDir), 'utf8'), String(other.pid));
  } finally {
    other.child.kill();
  }
});

test('many waiters at once: each holds the lock alone, one after the other', async () => {
  const cacheDir = await scratch();
  let holders = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all([0, 1, 2].map(async (n) => {
    const release = await lockRepo(cacheDir, REPO, { onWait: () => undefined });
    most = Math.max(most, ++holders);
    order.push(n);
    await new Promise((ok) => setTimeout(ok, 5));
    holders--;
    await release();
  }));
  assert.equal(most, 1);
  assert.equal(order.length, 3);
});
