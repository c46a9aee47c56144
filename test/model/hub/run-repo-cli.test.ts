import assert from 'node:assert/strict';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gemma } from '../../helpers/cli.js';
import { FakeHub } from '../../helpers/fake-hub.js';
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
});
