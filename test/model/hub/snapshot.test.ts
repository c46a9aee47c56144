import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scanCacheDir } from '@huggingface/hub';
import { openCheckpoint } from '../../../src/checkpoint/checkpoint.js';
import { pullSnapshot, type DownloadProgress } from '../../../src/hub/snapshot.js';
import { FakeHub, hubFile, type Fault } from '../../helpers/fake-hub.js';
import { allPaths, hubHome, REPO, repoFiles, SHARD, WANTED, type HubHome } from './fixture.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
/** Polls: the client writes what the server sent a moment later. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await condition()); i++) {
    if (i > 500) throw new Error('timed out waiting');
    await new Promise((ok) => setTimeout(ok, 10));
  }
}
const repoRoot = (h: HubHome): string => join(h.cacheDir, 'models--google--gemma-2-2b-it');

describe('pullSnapshot against the fake Hub', () => {
  let hub: FakeHub;
  let files: Record<string, Buffer>;
  let commit: string;
  const homes: HubHome[] = [];
  const home = async (): Promise<HubHome> => {
    const h = await hubHome('pull', hub.url);
    homes.push(h);
    return h;
  };
  const shardOf = (path: string) => hubFile(path, files[path]!);

  before(async () => {
    hub = await FakeHub.start();
    files = await repoFiles();
    commit = hub.addRepo(REPO, files);
  });
  after(async () => {
    await hub.close();
    await Promise.all(homes.map((h) => rm(h.root, { recursive: true, force: true })));
  });

  test('a full pull fills the standard layout, verified, readable by @huggingface/hub and gemma; a second pull transfers nothing', async () => {
    const h = await home();
    const events: DownloadProgress[] = [];
    const result = await pullSnapshot(REPO, { onProgress: (e) => events.push(e) }, h.settings);
    const root = repoRoot(h);
    assert.equal(result.dir, join(root, 'snapshots', commit));
    assert.equal(result.commit, commit);
    assert.equal(result.fromCache, false);
    const wantedBytes = WANTED.reduce((sum, f) => sum + files[f]!.length, 0);
    assert.equal(result.downloadedBytes, wantedBytes);
    assert.equal(await readFile(join(root, 'refs', 'main'), 'utf8'), commit);
    assert.deepEqual((await allPaths(result.dir)).sort(), [...WANTED].sort());
    for (const name of WANTED) {
      const f = shardOf(name);
      const id = f.lfs ? f.sha256 : f.oid;
      assert.equal(await readlink(join(result.dir, name)), `../../blobs/${id}`, name);
      const blob = await readFile(join(root, 'blobs', id));
      assert.ok(blob.equals(files[name]!), name);
      if (f.lfs) assert.equal(createHash('sha256').update(blob).digest('hex'), id);
    }
    assert.deepEqual((await allPaths(join(root, 'blobs'))).filter((n) => n.includes('.')), [], 'no partial files left');
    assert.equal(events.filter((e) => e.kind === 'bytes').reduce((sum, e) => sum + (e.kind === 'bytes' ? e.bytes : 0), 0), wantedBytes);
    assert.deepEqual(events.filter((e) => e.kind === 'done').map((e) => (e.kind === 'done' ? e.path : '')).sort(), [...WANTED].sort());

    const scanned = await scanCacheDir(h.cacheDir);
    assert.deepEqual(scanned.warnings, []);
    assert.equal(scanned.repos[0]?.id.name, REPO);
    assert.deepEqual(scanned.repos[0]?.revisions.map((r) => [r.commitOid, r.refs]), [[commit, ['main']]]);
    const checkpoint = await openCheckpoint(result.dir);
    assert.equal(checkpoint.spec.config.hidden_size, 256);
    await checkpoint.close();

    const served = hub.bytesServed;
    const requests = hub.requests.length;
    const again = await pullSnapshot(REPO, {}, h.settings);
    assert.deepEqual(again, { ...result, downloadedBytes: 0 });
    assert.equal(hub.bytesServed, served);
    assert.deepEqual(hub.requests.slice(requests).filter((r) => r.path.includes('/resolve/') || r.server === 'cdn'), []);
  });

  test('a dropped connection is resumed in the same pull with a Range request', async () => {
    const h = await home();
    const fault = hub.fault({ path: SHARD, kind: 'cut', after: 700_000, times: 1 });
    const events: DownloadProgress[] = [];
    const start = hub.requests.length;
    await pullSnapshot(REPO, { onProgress: (e) => events.push(e) }, h.settings);
    assert.equal(fault.hits, 1);
    const cdn = hub.requests.slice(start).filter((r) => r.server === 'cdn' && r.path.includes(encodeURIComponent(SHARD)));
    // The server sent 700000 bytes before dropping the connection; the client may have lost the last few in flight.
    assert.equal(cdn.length, 2);
    assert.equal(cdn[0]!.range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(cdn[1]!.range ?? '')?.[1]);
    assert.ok(resumedAt > 500_000 && resumedAt <= 700_000, String(cdn[1]!.range));
    assert.ok(events.some((e) => e.kind === 'retry' && e.path === SHARD));
    assert.ok(events.some((e) => e.kind === 'start' && e.path === SHARD && e.offset === resumedAt));
    assert.ok((await readFile(join(repoRoot(h), 'blobs', shardOf(SHARD).sha256))).equals(files[SHARD]!));
  });

  test('transient HTTP errors and a stalled transfer are retried; a server ignoring Range restarts the file', async () => {
    const h = await home();
    const unavailable = hub.fault({ path: 'model-00001-of-00003.safetensors', kind: 'error-503', times: 2 });
    const stall = hub.fault({ path: SHARD, kind: 'stall', after: 100_000, times: 1 });
    hub.fault({ path: SHARD, kind: 'ignore-range', times: 1 });
    const events: DownloadProgress[] = [];
    const pulled = pullSnapshot(REPO, { onProgress: (e) => events.push(e) }, { ...h.settings, idleTimeoutMs: 300 });
    await stall.stalled;
    const result = await pulled;
    stall.release();
    assert.ok(events.some((e) => e.kind === 'restart' && e.path === SHARD && /ignored the range/.test(e.reason)));
    assert.equal(unavailable.hits, 2);
    assert.ok(events.filter((e) => e.kind === 'retry' && e.path === 'model-00001-of-00003.safetensors').length >= 2);
    for (const name of WANTED) assert.ok((await readFile(join(result.dir, name))).equals(files[name]!), name);
  });

  test('a corrupted transfer is rejected, deleted, and leaves no blob', async () => {
    const h = await home();
    hub.fault({ path: SHARD, kind: 'corrupt' });
    try {
      await assert.rejects(pullSnapshot(REPO, {}, h.settings), /^GemmaError: model-00002-of-00003.safetensors: the download does not match its sha256 .*it was deleted/);
    } finally {
      hub.clearFaults();
    }
    const blobs = await allPaths(join(repoRoot(h), 'blobs'));
    assert.ok(!blobs.some((n) => n.startsWith(shardOf(SHARD).sha256)), blobs.join());
    assert.ok(!(await exists(join(repoRoot(h), 'snapshots', commit, SHARD))));
    assert.ok(!(await exists(join(repoRoot(h), 'refs', 'main'))), 'no ref to an incomplete snapshot');
  });

  test('a bad partial file from an earlier run is dropped and the file fetched again from zero', async () => {
    const h = await home();
    const id = shardOf(SHARD).sha256;
    await pullSnapshot(REPO, {}, h.settings);
    await rm(join(repoRoot(h), 'blobs', id));
    await writeFile(join(repoRoot(h), 'blobs', `${id}.incomplete`), Buffer.alloc(50_000, 0xaa));
    const events: DownloadProgress[] = [];
    await pullSnapshot(REPO, { onProgress: (e) => events.push(e) }, h.settings);
    assert.ok(events.some((e) => e.kind === 'start' && e.offset === 50_000));
    assert.ok(events.some((e) => e.kind === 'restart' && /did not verify/.test(e.reason)));
    assert.ok((await readFile(join(repoRoot(h), 'blobs', id))).equals(files[SHARD]!));
  });

  test('a request that keeps failing: "resume" only for a transfer that kept bytes, never for an API call or a file that kept none', async () => {
    const h = await home();
    const failing = async (fault: Fault, message: RegExp): Promise<void> => {
      hub.fault(fault);
      try {
        await assert.rejects(pullSnapshot(REPO, {}, h.settings), message);
      } finally {
        hub.clearFaults();
      }
    };
    const root = hub.url.replace(/[.]/g, '\\.');
    await failing({ path: 'revision', kind: 'api-500' }, new RegExp(`^GemmaError: the Hub at ${root} kept failing \\(HTTP 500\\) on the request for the model info of google/gemma-2-2b-it: it may be down or overloaded; try again later$`));
    await failing({ path: 'tree', kind: 'api-500' }, new RegExp(`^GemmaError: the Hub at ${root} kept failing \\(HTTP 500\\) on the request for the file list of google/gemma-2-2b-it: it may be down or overloaded; try again later$`));
    await failing({ path: 'config.json', kind: 'error-503' }, /^GemmaError: config\.json: the download kept failing \(HTTP 503\); try again later$/);
    await failing({ path: SHARD, kind: 'cut', after: 100_000 }, new RegExp(`^GemmaError: ${SHARD}: the transfer kept failing \\([^)]+\\); the bytes received are kept: run the same command again to resume$`));
    const partial = (await stat(join(repoRoot(h), 'blobs', `${shardOf(SHARD).sha256}.incomplete`))).size;
    assert.ok(partial > 0 && partial < files[SHARD]!.length, String(partial));
  });

  test('a file longer than its listing says is cut off and deleted by the size check alone (its sha256 is that of the longer body)', async () => {
    const h = await home();
    const listed = files[SHARD]!.length;
    const longer = Buffer.concat([files[SHARD]!, Buffer.alloc(5000, 1)]);
    hub.addRepo('google/longer', { ...files, [SHARD]: longer }, { listedSizes: { [SHARD]: listed } });
    const id = hubFile(SHARD, longer).sha256;
    const start = hub.requests.length;
    await assert.rejects(pullSnapshot('google/longer', {}, h.settings), new RegExp(`^GemmaError: ${SHARD}: the Hub sent more than the ${listed} bytes its listing gives; the download was deleted$`));
    assert.equal(hub.requests.slice(start).filter((r) => r.server === 'cdn' && r.path.includes(id)).length, 1, 'refused, not retried');
    const blobs = await allPaths(join(h.cacheDir, 'models--google--longer', 'blobs'));
    assert.ok(!blobs.some((n) => n.startsWith(id)), blobs.join());
  });

  test('a Hub answer that contradicts the listing stops the pull without touching the partial file', async () => {
    const h = await home();
    hub.fault({ path: SHARD, kind: 'wrong-etag', times: 1 });
    await assert.rejects(pullSnapshot(REPO, {}, h.settings), /the Hub now reports sha256 .* its listing said .* run the pull again/);
    assert.ok(!(await exists(join(repoRoot(h), 'blobs', shardOf(SHARD).sha256))));
  });

  test('aborting stops the transfer and keeps the partial file for the next pull', async () => {
    const h = await home();
    const stall = hub.fault({ path: SHARD, kind: 'stall', after: 300_000, times: 1 });
    const controller = new AbortController();
    const pulled = pullSnapshot(REPO, { signal: controller.signal }, h.settings);
    await stall.stalled;
    const partialPath = join(repoRoot(h), 'blobs', `${shardOf(SHARD).sha256}.incomplete`);
    await until(async () => (await stat(partialPath).catch(() => undefined))?.size === 300_000);
    controller.abort();
    await assert.rejects(pulled, { name: 'AbortError' });
    stall.release();
    assert.equal((await stat(partialPath)).size, 300_000);
    const start = hub.requests.length;
    await pullSnapshot(REPO, {}, h.settings);
    assert.ok(hub.requests.slice(start).some((r) => r.server === 'cdn' && r.range === 'bytes=300000-'));
  });

  test('--revision: a tag and a commit hash; an unknown revision is named', async () => {
    const h = await home();
    hub.tag(REPO, 'v1', commit);
    const tagged = await pullSnapshot(REPO, { revision: 'v1' }, h.settings);
    assert.equal(tagged.commit, commit);
    assert.equal(await readFile(join(repoRoot(h), 'refs', 'v1'), 'utf8'), commit);
    const pinned = await pullSnapshot(REPO, { revision: commit }, h.settings);
    assert.equal(pinned.dir, tagged.dir);
    assert.ok(!(await exists(join(repoRoot(h), 'refs', commit))), 'no ref file for a commit');
    await assert.rejects(pullSnapshot(REPO, { revision: 'nope' }, h.settings), /^GemmaError: revision "nope" not found in google\/gemma-2-2b-it$/);
    await assert.rejects(pullSnapshot(REPO, { revision: '../../x' }, h.settings), /invalid --revision/);
  });

  test('a moved branch downloads the changed file afresh and drops the old partial file', async () => {
    const h = await home();
    const repo = 'google/moving';
    const v1 = hub.addRepo(repo, files);
    const old = hubFile(SHARD, files[SHARD]!).sha256;
    const blobs = join(h.cacheDir, 'models--google--moving', 'blobs');
    const stall = hub.fault({ path: SHARD, kind: 'stall', after: 400_000, times: 1 });
    const controller = new AbortController();
    const first = pullSnapshot(repo, { signal: controller.signal }, h.settings);
    await stall.stalled;
    await until(() => exists(join(blobs, `${old}.incomplete`)));
    controller.abort();
    await assert.rejects(first);
    stall.release();
    assert.ok(await exists(join(blobs, `${old}.incomplete`)));
    const changed = Buffer.from(files[SHARD]!);
    changed[changed.length - 1] ^= 1;
    const v2 = hub.push(repo, { ...files, [SHARD]: changed });
    const start = hub.requests.length;
    const result = await pullSnapshot(repo, {}, h.settings);
    assert.equal(result.commit, v2);
    assert.notEqual(v1, v2);
    const fresh = hubFile(SHARD, changed).sha256;
    assert.deepEqual(hub.requests.slice(start).filter((r) => r.server === 'cdn' && r.path.includes(fresh)).map((r) => r.range), [undefined]);
    assert.ok((await readFile(join(result.dir, SHARD))).equals(changed));
    assert.ok(!(await exists(join(blobs, `${old}.incomplete`))), 'the partial of the old version is gone');
  });
});
