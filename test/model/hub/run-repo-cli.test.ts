import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gemma, GEMMA_BIN } from '../../helpers/cli.js';
import { FakeHub } from '../../helpers/fake-hub.js';
import { Terminal } from '../../helpers/pty.js';
import { hubHome, REPO, repoFiles, type HubHome } from './fixture.js';

describe('gemma run <repo id>: pull, convert and answer in one go, through the fake Hub', () => {
  let hub: FakeHub;
  let home: HubHome;

  before(async () => {
    hub = await FakeHub.start();
    hub.addRepo(REPO, await repoFiles());
    home = await hubHome('run-repo', hub.url);
  });
  after(async () => {
    await hub.close();
    await rm(home.root, { recursive: true, force: true });
  });

  test('first run downloads and converts; the second reuses both and works offline', async () => {
    const args = ['run', REPO, '-p', 'Hello', '-n', '5', '--temp', '0', '--json'];
    const first = await gemma(args, home.env);
    assert.equal(first.code, 0, first.stderr);
    const answer = JSON.parse(first.stdout) as { ids: number[] };
    assert.equal(answer.ids.length, 5);
    const downloads = hub.requests.filter((l) => l.server === 'cdn').length;
    assert.ok(downloads > 0, 'weights came from the CDN');
    assert.ok(await stat(join(home.env.GEMMA_HOME!, 'models', 'google--gemma-2-2b-it', 'int4-b64-asym', 'gemma.json')), 'converted into the exports cache');

    const second = await gemma(args, { ...home.env, HF_HUB_OFFLINE: '1' });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual((JSON.parse(second.stdout) as { ids: number[] }).ids, answer.ids);
    assert.equal(hub.requests.filter((l) => l.server === 'cdn').length, downloads, 'nothing downloaded again');

    const list = await gemma(['list', '--json'], home.env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /int4-b64-asym/);
    assert.ok(list.stdout.includes(REPO));
  });

  test('while another gemma process pulls the repo, run waits for it with a spinner, then answers', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const exited = new Promise((ok) => other.on('exit', ok));
    const locks = join(home.cacheDir, '.locks', 'models--google--gemma-2-2b-it');
    await mkdir(locks, { recursive: true });
    await writeFile(join(locks, 'gemma-pull.lock'), String(other.pid));
    const term = new Terminal([process.execPath, GEMMA_BIN, 'run', REPO, '-p', 'Hello', '-n', '2', '--temp', '0'].join(' '), home.env);
    await term.waitFor(new RegExp(`waiting for gemma process ${other.pid}, which is downloading this model`));
    other.kill('SIGKILL');
    await exited;
    assert.equal(await term.exited, 0, term.output);
    assert.deepEqual(await readdir(locks), [], 'the dead process\'s lock was taken over and released');
  });
});
