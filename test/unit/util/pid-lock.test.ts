import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { acquireLock, alive } from '../../../src/util/pid-lock.js';
import { deadProcessFolders, tempFolderName, tempFolderPattern } from '../../../src/util/temp-folders.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-pid-lock-');

/** A process that takes the lock at `path` (by writing its pid) and holds it until killed. */
async function holder(path: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(path)}, String(process.pid)); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return child;
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('acquireLock', () => {
  test('waits while a live process holds the lock, saying who, and takes it when the holder is killed', async () => {
    const path = join(await scratch(), '.slot.lock');
    const child = await holder(path);
    const waitedFor: number[] = [];
    const taking = acquireLock(path, { onWait: (owner) => {
      waitedFor.push(owner);
      child.kill('SIGKILL');
    } });
    const release = await taking;
    assert.deepEqual(waitedFor, [child.pid]);
    assert.equal(await readFile(path, 'utf8'), String(process.pid));
    await release();
    assert.deepEqual(await readdir(join(path, '..')), []);
  });

  test('a lock whose owner is dead is taken over at once; one holding our own pid is a leftover too', async () => {
    const dir = await scratch();
    for (const owner of [await deadPid(), process.pid]) {
      await writeFile(join(dir, '.slot.lock'), String(owner));
      let waited = false;
      const release = await acquireLock(join(dir, '.slot.lock'), { onWait: () => (waited = true) });
      assert.equal(waited, false);
      await release();
    }
  });

  test('the wait ends when the signal aborts it, and the holder keeps its lock', async () => {
    const path = join(await scratch(), '.slot.lock');
    const child = await holder(path);
    const controller = new AbortController();
    try {
      await assert.rejects(acquireLock(path, { signal: controller.signal, onWait: () => controller.abort() }), { name: 'AbortError' });
      assert.equal(await readFile(path, 'utf8'), String(child.pid));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('deadProcessFolders', () => {
  test('only folders of the exact pattern whose process is gone', async () => {
    const dir = await scratch();
    const dead = await deadPid();
    assert.equal(alive(dead), false);
    const names = [tempFolderName('int4', dead), tempFolderName('int8', dead), tempFolderName('int4'), `int4.tmp-${dead}`, `.int4.tmp-${dead}x`];
    for (const name of names) await mkdir(join(dir, name));
    await writeFile(join(dir, tempFolderName('fp32', dead)), 'a file, not a folder');
    assert.deepEqual(await deadProcessFolders(dir, tempFolderPattern('int4')), [join(dir, tempFolderName('int4', dead))]);
    assert.deepEqual(await deadProcessFolders(dir, tempFolderPattern()), [join(dir, tempFolderName('int4', dead)), join(dir, tempFolderName('int8', dead))]);
  });
});
