import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { finished, gemma, GEMMA_BIN, startGemma, type CliResult } from '../../helpers/cli.js';
import { FakeHub, hubFile } from '../../helpers/fake-hub.js';
import { Terminal } from '../../helpers/pty.js';
import { allFileContents, hubHome, REPO, SHARD, TOKEN, WANTED, type HubHome, hubWithGatedRepo } from './fixture.js';

const ONE_LINE_ERROR = /^gemma: error: [^\n]+\n$/;

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await condition()); i++) {
    if (i > 1000) throw new Error('timed out waiting');
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

describe('gemma pull (CLI against the fake Hub)', () => {
  let hub: FakeHub;
  let files: Record<string, Buffer>;
  let commit: string;
  const homes: HubHome[] = [];
  const home = async (): Promise<HubHome> => {
    const h = await hubHome('pull-cli', hub.url);
    homes.push(h);
    return h;
  };
  const shardId = (): string => hubFile(SHARD, files[SHARD]!).sha256;
  const blobs = (h: HubHome): string => join(h.cacheDir, 'models--google--gemma-2-2b-it', 'blobs');

  before(async () => {
    ({ hub, files, commit } = await hubWithGatedRepo());
  });
  after(async () => {
    await hub.close();
    await Promise.all(homes.map((h) => rm(h.root, { recursive: true, force: true })));
  });

  test('piped: the snapshot path on stdout, one summary line, no progress; again: nothing transferred; --json', async () => {
    const h = await home();
    const r = await gemma(['pull', REPO], h.env);
    assert.equal(r.code, 0, r.stderr);
    const dir = join(h.cacheDir, 'models--google--gemma-2-2b-it', 'snapshots', commit);
    assert.equal(r.stdout, `${dir}\n`);
    assert.match(r.stderr, new RegExp(`^google/gemma-2-2b-it@main \\(commit ${commit.slice(0, 12)}\\): 6\\.0 MB downloaded in \\d+\\.\\d s\\n$`));
    assert.ok(!r.stderr.includes('\u001b['), 'no terminal control codes');
    assert.deepEqual((await readdir(dir)).sort(), [...WANTED].sort());
    const served = hub.bytesServed;
    const again = await gemma(['pull', REPO], h.env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /: already up to date\n$/);
    const json = await gemma(['pull', REPO, '--json', '--revision', 'main'], h.env);
    assert.equal(json.stderr, '');
    assert.deepEqual({ ...JSON.parse(json.stdout), seconds: 0 }, { repo: REPO, revision: 'main', commit, dir, downloadedBytes: 0, fromCache: false, seconds: 0 });
    assert.equal(hub.bytesServed, served);
  });

  test('the token never appears in output, errors or any file, and never reaches the CDN', async () => {
    const h = await home();
    const runs: CliResult[] = [];
    const start = hub.requests.length;
    runs.push(await gemma(['pull', 'google/gated', '--token', TOKEN], h.env));
    assert.equal(runs[0]!.code, 0, runs[0]!.stderr);
    runs.push(await gemma(['pull', 'google/gated', '--token', TOKEN, '--json'], h.env));
    runs.push(await gemma(['pull', 'google/nope', '--token', TOKEN], h.env));
    runs.push(await gemma(['pull', 'google/gated'], { ...h.env, HF_HOME: join(h.root, 'other'), HF_TOKEN: 'hf_otherACCOUNT' }));
    runs.push(await gemma(['pull', 'google/gated', '--token', 'secretTOKEN123'], h.env));
    runs.push(await gemma(['pull', 'google/gated', '--token', `${TOKEN}\nx`], h.env));
    for (const r of runs.slice(2)) assert.match(r.stderr, ONE_LINE_ERROR);
    assert.match(runs[3]!.stderr, /token from HF_TOKEN has no access/);
    for (const r of runs) assert.ok(!`${r.stdout}${r.stderr}`.includes('secretTOKEN123'), r.stderr);
    for (const { path, text } of await allFileContents(h.root)) assert.ok(!text.includes('secretTOKEN123'), path);
    assert.ok(hub.requests.slice(start).filter((q) => q.server === 'cdn').every((q) => q.authorization === undefined));
  });

  test('a gated repo without a token: one line naming the repo and the license to accept', async () => {
    const h = await home();
    const r = await gemma(['pull', 'google/gated'], h.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, ONE_LINE_ERROR);
    assert.match(r.stderr, /google\/gated is a gated model: accept its license at http:\/\/127\.0\.0\.1:\d+\/google\/gated.*same account/);
  });

  test('a transfer killed in the middle resumes on the next pull with a Range request and ends verified', async () => {
    const h = await home();
    const stall = hub.fault({ path: SHARD, kind: 'stall', after: 600_000, times: 1 });
    const child = startGemma(['pull', REPO], h.env);
    const done = finished(child);
    const partial = join(blobs(h), `${shardId()}.incomplete`);
    await stall.stalled;
    await until(async () => (await stat(partial).catch(() => undefined))?.size === 600_000);
    child.kill('SIGKILL');
    await done;
    stall.release();
    const start = hub.requests.length;
    const r = await gemma(['pull', REPO], h.env);
    assert.equal(r.code, 0, r.stderr);
    const shardRequests = hub.requests.slice(start).filter((q) => q.server === 'cdn' && q.path.includes(shardId()));
    assert.deepEqual(shardRequests.map((q) => q.range), ['bytes=600000-']);
    assert.ok((await readFile(join(blobs(h), shardId()))).equals(files[SHARD]!));
    assert.ok(!(await readdir(blobs(h))).some((n) => n.endsWith('.incomplete')));
  });

  test('Ctrl-C: one line, exit 130, the partial file kept', async () => {
    const h = await home();
    const stall = hub.fault({ path: SHARD, kind: 'stall', after: 200_000, times: 1 });
    const child = startGemma(['pull', REPO], h.env);
    const done = finished(child);
    await stall.stalled;
    await until(async () => (await stat(join(blobs(h), `${shardId()}.incomplete`)).catch(() => undefined)) !== undefined);
    child.kill('SIGINT');
    const r = await done;
    stall.release();
    assert.equal(r.code, 130);
    assert.equal(r.stderr, 'gemma: error: interrupted: partial downloads are kept and resume on the next pull\n');
    assert.ok((await readdir(blobs(h))).includes(`${shardId()}.incomplete`));
  });

  /** A first pull stalled in the middle of the shard, holding the repo's lock. */
  async function stalledPull(h: HubHome, args: string[] = []): Promise<{ pid: number; release: () => Promise<CliResult> }> {
    const stall = hub.fault({ path: SHARD, kind: 'stall', after: 300_000, times: 1 });
    const child = startGemma(['pull', REPO, ...args], h.env);
    const done = finished(child);
    await stall.stalled;
    return { pid: child.pid!, release: () => (stall.release(), done) };
  }
  const waiter = (h: HubHome): Terminal => new Terminal([process.execPath, GEMMA_BIN, 'pull', REPO].join(' '), h.env);
  const WAITING = /waiting for gemma process (\d+), which is downloading this model/;
  const infoRequests = (): number => hub.requests.filter((q) => q.path.startsWith(`/api/models/${REPO}/revision/`)).length;

  test('a second pull of a repo being pulled waits for it with a spinner on a terminal, then uses its download', async () => {
    const h = await home();
    const first = await stalledPull(h);
    const term = waiter(h);
    await term.waitFor(WAITING);
    assert.equal(Number(WAITING.exec(term.output)![1]), first.pid);
    assert.equal((await first.release()).code, 0);
    assert.equal(await term.exited, 0, term.output);
    assert.match(term.output, /google\/gemma-2-2b-it@main \(commit [0-9a-f]{12}\): already up to date/);
  });

  test('three pulls of one repo at once on a fresh cache, piped: all succeed, the waiting ones silently, every file transferred once', async () => {
    const h = await home();
    const served = hub.bytesServed;
    const first = await stalledPull(h, ['--json']);
    const asked = infoRequests();
    const others = [0, 1].map(() => finished(startGemma(['pull', REPO, '--json'], h.env)));
    await until(async () => infoRequests() === asked + 2);
    const runs = [await first.release(), ...(await Promise.all(others))];
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
    }
    const wanted = WANTED.reduce((sum, f) => sum + files[f]!.length, 0);
    assert.deepEqual(runs.map((r) => (JSON.parse(r.stdout) as { downloadedBytes: number }).downloadedBytes), [wanted, 0, 0]);
    assert.equal(hub.bytesServed - served, wanted);
  });

  test('Ctrl-C while waiting for another pull: one line, exit 130, the other pull unaffected', async () => {
    const h = await home();
    const first = await stalledPull(h);
    const term = waiter(h);
    await term.waitFor(WAITING);
    term.type('\x03');
    assert.equal(await term.exited, 130, term.output);
    assert.match(term.output, /gemma: error: interrupted: partial downloads are kept and resume on the next pull/);
    const r = await first.release();
    assert.equal(r.code, 0, r.stderr);
  });

  test('HF_HUB_OFFLINE: a clear error without a cached copy, the cached copy without a request', async () => {
    const h = await home();
    const offline = { ...h.env, HF_HUB_OFFLINE: '1' };
    const missing = await gemma(['pull', REPO], offline);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^gemma: error: offline mode \(HF_HUB_OFFLINE\) and google\/gemma-2-2b-it@main is not complete in the cache [^\n]+; pull it once while online\n$/);
    assert.equal((await gemma(['pull', REPO], h.env)).code, 0);
    const start = hub.requests.length;
    const cached = await gemma(['pull', REPO], offline);
    assert.equal(cached.code, 0, cached.stderr);
    assert.match(cached.stderr, /: the cached copy \(offline mode, or the Hub could not be reached\)\n$/);
    assert.equal(hub.requests.length, start);
  });

  test('bad input: one line and exit 1, nothing written', async () => {
    const h = await home();
    hub.addRepo('evil/repo', { ...files, 'model.safetensors.index.json': Buffer.from(JSON.stringify({ weight_map: { w: '../../../../evil.safetensors' } })) });
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['pull', '../../etc'], {}, /not a Hugging Face model id: "..\/..\/etc"/],
      [['pull', REPO, '--revision', '../x'], {}, /invalid --revision "..\/x"/],
      [['pull', REPO], { HF_ENDPOINT: 'ftp://x' }, /HF_ENDPOINT must be an http or https URL/],
      [['pull', 'google/missing'], {}, /google\/missing not found on http:\/\/127.0.0.1:\d+, or it is private/],
      [['pull', 'evil/repo'], {}, /evil\/repo: model.safetensors.index.json: refusing file name "..\/..\/..\/..\/evil.safetensors"/],
      [['pull', REPO, '--frobnicate'], {}, /unknown option '--frobnicate'/],
    ];
    for (const [args, env, message] of cases) {
      const r = await gemma(args, { ...h.env, ...env });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, ONE_LINE_ERROR);
      assert.match(r.stderr, message);
    }
    assert.deepEqual((await readdir(h.root)).sort(), ['hf']);
  });

  test('a full disk: stopped before the transfer, or mid-transfer with a clear line and no blob', async (t) => {
    const h = await home();
    const disk = join(h.root, 'small-disk');
    await mkdir(disk);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', disk]).status !== 0) {
      t.skip('mounting a tmpfs needs root');
      return;
    }
    try {
      const env = { ...h.env, HF_HUB_CACHE: disk };
      const early = await gemma(['pull', REPO], env);
      assert.equal(early.code, 1);
      assert.match(early.stderr, /^gemma: error: not enough disk space for google\/gemma-2-2b-it: it needs 5\.\d MB more in [^\n]+, \d\.\d MB is free\n$/);
      spawnSync('mount', ['-o', 'remount,size=8m', disk]);
      const stall = hub.fault({ path: SHARD, kind: 'stall', after: 100_000, times: 1 });
      const child = startGemma(['pull', REPO], env);
      const done = finished(child);
      await stall.stalled;
      await writeFile(join(disk, 'filler'), Buffer.alloc(8 << 20)).catch(() => undefined);
      stall.release();
      const r = await done;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gemma: error: writing [^\n]+\.incomplete: no space left on device: free some space and pull again; the download resumes where it stopped\n$/);
      assert.ok(!(await readdir(join(disk, 'models--google--gemma-2-2b-it', 'blobs'))).includes(shardId()));
    } finally {
      spawnSync('umount', [disk]);
    }
  });
});
