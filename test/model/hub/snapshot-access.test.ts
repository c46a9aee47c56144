import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pullSnapshot, type DownloadProgress } from '../../../src/hub/snapshot.js';
import { FakeHub, hubFile } from '../../helpers/fake-hub.js';
import { allPaths, hubHome, REPO, TOKEN, WANTED, type HubHome, hubWithGatedRepo } from './fixture.js';

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  await new Promise((ok) => server.close(ok));
  return port;
}

describe('pullSnapshot: access, offline use, untrusted names, other tools\' caches', () => {
  let hub: FakeHub;
  let files: Record<string, Buffer>;
  let commit: string;
  const homes: HubHome[] = [];
  const home = async (): Promise<HubHome> => {
    const h = await hubHome('access', hub.url);
    homes.push(h);
    return h;
  };

  before(async () => {
    ({ hub, files, commit } = await hubWithGatedRepo());
  });
  after(async () => {
    await hub.close();
    await Promise.all(homes.map((h) => rm(h.root, { recursive: true, force: true })));
  });

  test('a gated repo: no token, a token without access, an unknown token, then the granted token', async () => {
    const h = await home();
    await assert.rejects(pullSnapshot('google/gated', {}, h.settings),
      /^GemmaError: google\/gated is a gated model: accept its license at http:\/\/127.0.0.1:\d+\/google\/gated, then pass --token, set HF_TOKEN, or log in with huggingface-cli login with a token of that same account$/);
    await assert.rejects(pullSnapshot('google/gated', { token: 'hf_otherACCOUNT' }, h.settings), /gated model and the token from --token has no access to it \(HTTP 403\)/);
    await assert.rejects(pullSnapshot('google/gated', { token: 'hf_unknown' }, h.settings), /rejected the token from --token \(HTTP 401\)/);
    assert.deepEqual((await allPaths(join(h.cacheDir, 'models--google--gated', 'blobs'))).filter((n) => !n.endsWith('.incomplete')), []);
    const start = hub.requests.length;
    const result = await pullSnapshot('google/gated', { token: TOKEN }, h.settings);
    assert.deepEqual((await readdir(result.dir)).sort(), [...WANTED].sort());
    const sent = hub.requests.slice(start);
    assert.ok(sent.filter((r) => r.server === 'hub').every((r) => r.authorization === `Bearer ${TOKEN}`));
    assert.ok(sent.some((r) => r.server === 'cdn'));
    assert.ok(sent.filter((r) => r.server === 'cdn').every((r) => r.authorization === undefined), 'the token never goes to the CDN');
  });

  test('HF_TOKEN and the token file are used when no token is passed', async () => {
    const h = await home();
    await pullSnapshot('google/gated', {}, { ...h.settings, envToken: TOKEN });
    const other = await home();
    await mkdir(join(other.root, 'hf'), { recursive: true });
    await writeFile(other.settings.tokenFile, `${TOKEN}\n`);
    await pullSnapshot('google/gated', {}, other.settings);
  });

  test('a missing repo is named', async () => {
    const h = await home();
    await assert.rejects(pullSnapshot('google/nope', {}, h.settings), /^GemmaError: google\/nope not found on http:\/\/127.0.0.1:\d+, or it is private/);
    await assert.rejects(pullSnapshot('not a repo', {}, h.settings), /not a Hugging Face model id/);
  });

  test('offline: the cached snapshot without a request, or a clear error; an unreachable Hub falls back to the cache', async () => {
    const h = await home();
    await assert.rejects(pullSnapshot(REPO, { offline: true }, h.settings), /^GemmaError: offline mode \(HF_HUB_OFFLINE\) and google\/gemma-2-2b-it@main is not complete in the cache/);
    const down = { ...h.settings, endpoint: `http://127.0.0.1:${await closedPort()}` };
    await assert.rejects(pullSnapshot(REPO, {}, down), /^GemmaError: cannot reach the Hub at http:\/\/127.0.0.1:\d+ \(ECONNREFUSED\)/);
    const online = await pullSnapshot(REPO, {}, h.settings);
    const start = hub.requests.length;
    assert.deepEqual(await pullSnapshot(REPO, {}, { ...h.settings, offline: true }), { ...online, downloadedBytes: 0, fromCache: true });
    assert.deepEqual(await pullSnapshot(REPO, { revision: commit, offline: true }, h.settings), { ...online, downloadedBytes: 0, fromCache: true });
    assert.equal(hub.requests.length, start);
    assert.deepEqual(await pullSnapshot(REPO, {}, down), { ...online, downloadedBytes: 0, fromCache: true });
    await rm(join(online.dir, 'model-00003-of-00003.safetensors'));
    await assert.rejects(pullSnapshot(REPO, { offline: true }, h.settings), /is not complete in the cache/);
  });

  test('hostile names from the Hub: refused in the index, ignored in the listing; nothing written outside the cache', async () => {
    const h = await home();
    const index = (name: string): Buffer => Buffer.from(JSON.stringify({ metadata: {}, weight_map: { 'model.embed_tokens.weight': name } }));
    const evil = { ...files, '../../../evil.safetensors': Buffer.from('x'), '..\\..\\evil2.safetensors': Buffer.from('x'), '/tmp/abs.json': Buffer.from('x') };
    for (const [i, name] of ['../../../evil.safetensors', '..\\..\\evil2.safetensors', '/tmp/abs.safetensors', 'x\u001b]2;pwned\u0007.safetensors'].entries()) {
      hub.addRepo(`evil/index${i}`, { ...evil, 'model.safetensors.index.json': index(name) }, { rawListing: true });
      await assert.rejects(pullSnapshot(`evil/index${i}`, {}, h.settings), (err: Error) => {
        assert.equal(err.name, 'GemmaError');
        assert.match(err.message, /^evil\/index\d: model.safetensors.index.json: refusing file name "/);
        assert.ok(!/[\u0000-\u001f]/.test(err.message), 'no control characters reach the terminal');
        return true;
      });
    }
    const single = Object.fromEntries(Object.entries(evil).filter(([n]) => !n.startsWith('model')));
    hub.addRepo('evil/listing', { ...single, 'model.safetensors': files['model-00001-of-00003.safetensors']! }, { rawListing: true });
    const result = await pullSnapshot('evil/listing', {}, h.settings);
    assert.ok(!(await readdir(result.dir)).some((n) => n.includes('evil') || n.includes('abs')));
    assert.deepEqual(await readdir(h.root), ['hf'], 'nothing next to the cache');
    assert.deepEqual(await readdir(join(h.root, 'hf')), ['hub']);
  });

  test('a cache written by another tool (blob links or plain copies) is reused without a transfer', async () => {
    const h = await home();
    const snap = join(h.cacheDir, 'models--google--gemma-2-2b-it', 'snapshots', commit);
    const blobs = join(h.cacheDir, 'models--google--gemma-2-2b-it', 'blobs');
    await mkdir(snap, { recursive: true });
    await mkdir(blobs, { recursive: true });
    const checkpoint = await (await import('../../helpers/models.js')).bindingCheckpoint();
    for (const [i, name] of WANTED.entries()) {
      if (i % 2 === 0) {
        await copyFile(join(checkpoint, name), join(snap, name));
        continue;
      }
      const f = hubFile(name, files[name]!);
      await copyFile(join(checkpoint, name), join(blobs, f.lfs ? f.sha256 : f.oid));
      await symlink(`../../blobs/${f.lfs ? f.sha256 : f.oid}`, join(snap, name));
    }
    const served = hub.bytesServed;
    const result = await pullSnapshot(REPO, {}, h.settings);
    assert.equal(result.downloadedBytes, 0);
    assert.equal(hub.bytesServed, served);
  });

  test('one pull per repo at a time: another waits for the lock (reported, nothing fetched meanwhile), then pulls; a dead owner\'s lock is taken over', async () => {
    const h = await home();
    const locks = join(h.cacheDir, '.locks', 'models--google--gemma-2-2b-it');
    await mkdir(locks, { recursive: true });
    await writeFile(join(locks, 'gemma-pull.lock'), String(process.ppid));
    let waiting = (): void => undefined;
    const waited = new Promise<void>((ok) => (waiting = ok));
    const events: DownloadProgress[] = [];
    const pulled = pullSnapshot(REPO, { onProgress: (e) => (events.push(e), e.kind === 'wait' && waiting()) }, h.settings);
    await waited;
    assert.deepEqual(events, [{ kind: 'wait', pid: process.ppid }], 'nothing fetched while waiting');
    await rm(join(locks, 'gemma-pull.lock'));
    assert.equal((await pulled).downloadedBytes, WANTED.reduce((sum, f) => sum + files[f]!.length, 0));
    await writeFile(join(locks, 'gemma-pull.lock'), '999999999');
    assert.equal((await pullSnapshot(REPO, {}, h.settings)).downloadedBytes, 0);
    assert.deepEqual(await readdir(locks), [], 'the lock is released');
  });
});
