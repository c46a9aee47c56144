import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gemma } from '../../helpers/cli.js';
import { FakeHub } from '../../helpers/fake-hub.js';
import { hubHome, REPO, repoFiles, type HubHome } from './fixture.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** A stand-in export folder: `gemma list` only reads the manifest's sizes. */
async function fakeExport(home: string, folder: string, variant: string, bytes: number): Promise<string> {
  const dir = join(home, 'models', folder, variant);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'gemma.json'), JSON.stringify({ format: 'gemma-onnx', sizes: { modelBytes: 1000, dataBytes: bytes - 1000 } }));
  return dir;
}

describe('gemma list and gemma rm', () => {
  let hub: FakeHub;
  let h: HubHome;
  let commit: string;

  before(async () => {
    hub = await FakeHub.start();
    commit = hub.addRepo(REPO, await repoFiles());
    h = await hubHome('list', hub.url);
  });
  after(async () => {
    await hub.close();
    await rm(h.root, { recursive: true, force: true });
  });

  test('an empty cache: a hint on stderr, [] with --json', async () => {
    const r = await gemma(['list'], h.env);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^no models in .* download one with gemma pull <org\/name>\n$/);
    assert.equal((await gemma(['list', '--json'], h.env)).stdout, '[]\n');
  });

  test('repos with their revision, size, partial downloads and exports; exports of local folders too', async () => {
    assert.equal((await gemma(['pull', REPO], h.env)).code, 0);
    await fakeExport(h.env.GEMMA_HOME!, 'google--gemma-2-2b-it', 'int4-b32', 1_600_000);
    await fakeExport(h.env.GEMMA_HOME!, 'google--gemma-2-2b-it', 'fp32', 10_000_000);
    await fakeExport(h.env.GEMMA_HOME!, 'tiny-random', 'int4-b32', 50_000);
    await mkdir(join(h.env.GEMMA_HOME!, 'models', 'google--gemma-2-2b-it', '.int8-b32.tmp-1'), { recursive: true });
    await writeFile(join(h.cacheDir, 'models--google--gemma-2-2b-it', 'blobs', `${'a'.repeat(64)}.incomplete`), Buffer.alloc(2000));
    const r = await gemma(['list'], h.env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^MODEL\s+REVISION\s+SIZE\s+EXPORTS$/);
    assert.match(lines[1]!, new RegExp(`^google/gemma-2-2b-it\\s+main ${commit.slice(0, 12)}\\s+6\\.0 MB \\(\\+2\\.0 KB partial\\)\\s+fp32 \\(10\\.0 MB\\), int4-b32 \\(1\\.6 MB\\)$`));
    assert.match(lines[2]!, /^tiny-random\s+-\s+-\s+int4-b32 \(50\.0 KB\)$/);
    assert.equal(lines.length, 3);
    const json = JSON.parse((await gemma(['list', '--json'], h.env)).stdout) as { name: string; cache: { refs: Record<string, string> } | null; exports: { variant: string }[] }[];
    assert.deepEqual(json.map((m) => [m.name, m.cache?.refs ?? null, m.exports.map((e) => e.variant)]), [
      [REPO, { main: commit }, ['fp32', 'int4-b32']],
      ['tiny-random', null, ['int4-b32']],
    ]);
  });

  test('rm removes the repo from the cache and its exports, and nothing else', async () => {
    const r = await gemma(['rm', REPO], h.env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [join(h.cacheDir, 'models--google--gemma-2-2b-it'), join(h.env.GEMMA_HOME!, 'models', 'google--gemma-2-2b-it')]);
    assert.match(r.stderr, /^removed google\/gemma-2-2b-it: 17\.6 MB freed\n$/);
    assert.ok(!(await exists(join(h.cacheDir, 'models--google--gemma-2-2b-it'))));
    assert.deepEqual(await readdir(join(h.cacheDir, '.locks')), []);
    assert.deepEqual(await readdir(join(h.env.GEMMA_HOME!, 'models')), ['tiny-random']);
    const json = await gemma(['rm', 'tiny-random', '--json'], h.env);
    assert.deepEqual(JSON.parse(json.stdout), { name: 'tiny-random', paths: [join(h.env.GEMMA_HOME!, 'models', 'tiny-random')], bytes: 50_000 });
  });

  test('rm of something absent, or of a name that is not a model, is one line and exit 1', async () => {
    const cases: [string, RegExp][] = [
      [REPO, /google\/gemma-2-2b-it is neither in .* nor in /],
      ['../etc', /not a model name: "..\/etc"/],
      ['.', /not a model name/],
    ];
    for (const [arg, message] of cases) {
      const r = await gemma(['rm', arg], h.env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gemma: error: [^\n]+\n$/);
      assert.match(r.stderr, message);
    }
    assert.ok(await exists(h.root));
  });

  test('rm refuses while a pull of the repo is running', async () => {
    assert.equal((await gemma(['pull', REPO], h.env)).code, 0);
    const locks = join(h.cacheDir, '.locks', 'models--google--gemma-2-2b-it');
    await mkdir(locks, { recursive: true });
    await writeFile(join(locks, 'gemma-pull.lock'), String(process.pid));
    const r = await gemma(['rm', REPO], h.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`being downloaded by another gemma process \\(pid ${process.pid}\\)`));
    assert.ok(await exists(join(h.cacheDir, 'models--google--gemma-2-2b-it', 'snapshots', commit)));
  });

  test('a snapshot lacking a weight file, or only partial downloads, is marked incomplete until a pull completes it', async () => {
    const own = await hubHome('list-incomplete', hub.url);
    type Listed = { name: string; cache: { incomplete: boolean; incompleteSnapshots: string[] } };
    const listJson = async (): Promise<Listed[]> => JSON.parse((await gemma(['list', '--json'], own.env)).stdout) as Listed[];
    try {
      hub.fault({ path: 'model-00002-of-00003.safetensors', kind: 'corrupt', times: 1 });
      assert.equal((await gemma(['pull', REPO], own.env)).code, 1);
      const partial = join(own.cacheDir, 'models--google--partial', 'blobs');
      await mkdir(partial, { recursive: true });
      await writeFile(join(partial, `${'b'.repeat(64)}.incomplete`), Buffer.alloc(2000));
      const r = await gemma(['list'], own.env);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.match(lines[1]!, new RegExp(`^google/gemma-2-2b-it\\s+${commit.slice(0, 12)} \\(incomplete: run gemma pull google/gemma-2-2b-it to resume\\)\\s+\\d`));
      assert.match(lines[2]!, /^google\/partial\s+\(incomplete: run gemma pull google\/partial to resume\)\s+0 B \(\+2\.0 KB partial\)\s+-$/);
      assert.deepEqual((await listJson()).map((m) => [m.name, m.cache.incomplete, m.cache.incompleteSnapshots]), [
        [REPO, true, [commit]],
        ['google/partial', true, []],
      ]);
      assert.equal((await gemma(['pull', REPO], own.env)).code, 0);
      assert.match((await gemma(['list'], own.env)).stdout, new RegExp(`\\ngoogle/gemma-2-2b-it\\s+main ${commit.slice(0, 12)}\\s+6\\.0 MB\\s+-\\n`));
      const pulled = (await listJson())[0]!.cache;
      assert.equal(pulled.incomplete, false);
      assert.deepEqual(pulled.incompleteSnapshots, []);
    } finally {
      await rm(own.root, { recursive: true, force: true });
    }
  });
});

describe('gemma list and gemma rm: what killed conversions left', () => {
  test('counted by list on stderr, removed and counted by rm', async () => {
    const root = await mkdtemp(join(tmpdir(), 'gemma-list-interrupted-'));
    try {
      const env = { GEMMA_HOME: join(root, 'home'), HF_HUB_CACHE: join(root, 'hf') };
      const dead = spawn(process.execPath, ['-e', '']);
      await once(dead, 'exit');
      const slot = join(env.GEMMA_HOME, 'models', 'tiny-random');
      for (const variant of ['int4-b64-asym', 'fp32']) {
        await mkdir(join(slot, `.${variant}.tmp-${dead.pid}`), { recursive: true });
        await writeFile(join(slot, `.${variant}.tmp-${dead.pid}`, 'model.onnx.data'), Buffer.alloc(1500));
      }
      await mkdir(join(slot, `.int8-b128.tmp-${process.pid}`));
      const listed = await gemma(['list'], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout, '');
      assert.match(listed.stderr, new RegExp(`^2 interrupted conversions left 3\\.0 KB in ${slot}: the next conversion of the same variant sweeps them, gemma rm tiny-random deletes them with the exports\\nno models in `));
      const removed = await gemma(['rm', 'tiny-random'], env);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(removed.stderr, 'removed tiny-random: 3.0 KB freed (2 interrupted conversions included)\n');
      assert.ok(!(await exists(slot)));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
