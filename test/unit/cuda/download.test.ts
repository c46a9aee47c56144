import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_IDLE_TIMEOUT_MS, downloadTo, idleTimeoutMs, type DownloadProgress } from '../../../src/cuda/download.js';
import { installProviderLibs } from '../../../src/cuda/install.js';
import { CUDA_LIB, SHARED_LIB, tarballUrl } from '../../../src/cuda/provider-package.js';
import { GemmaError } from '../../../src/util/errors.js';
import { tempDirs } from '../../helpers/temp-dirs.js';
import { fakeProviderPackage, type FakeProviderPackage } from '../../helpers/provider-tarball.js';

/**
 * A stand-in npm registry on 127.0.0.1; the first path segment picks the behaviour, so that one server serves every
 * test: /ok/ answers with the tarball, /cut/ closes the connection halfway, /stall/ stops halfway until the client
 * gives up, /gone/ answers 404, /silent/ accepts the request and never answers, /more/ sends the tarball twice without
 * announcing a length, /big/ announces one byte more than the tarball.
 */
let fake: FakeProviderPackage;
let server: Server;
let base: string;
const requests: string[] = [];
const target = tempDirs('gemma-cuda-dl-');

function serve(mode: string, s: ServerResponse): void {
  const body = fake.tgzBytes;
  if (mode === 'gone') return void s.writeHead(404, 'Not Found').end('{"error":"Not found"}');
  if (mode === 'silent') return;
  if (mode === 'more') return void s.writeHead(200).end(Buffer.concat([body, body]));
  if (mode === 'big') return void s.writeHead(200, { 'content-length': String(body.length + 1) }).end(Buffer.concat([body, Buffer.alloc(1)]));
  s.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
  if (mode === 'ok') return void s.end(body);
  s.write(body.subarray(0, body.length >> 1), () => {
    if (mode === 'cut') s.socket?.destroy();
  });
}

before(async () => {
  fake = await fakeProviderPackage(await target(), 2_000_000);
  server = createServer((q, s) => {
    requests.push(q.url ?? '');
    serve((q.url ?? '').split('/')[1] ?? '', s);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
});

test('downloads the tarball npm would, reports progress, verifies and installs; a second run downloads nothing', async () => {
  const dir = await target();
  const events: DownloadProgress[] = [];
  const registry = `${base}/ok/`;
  const result = await installProviderLibs({ targetDir: dir, registry, pkg: fake.pkg, onProgress: (p) => events.push(p) });
  assert.equal(result.source, tarballUrl(fake.pkg, registry));
  assert.equal(requests.at(-1), `/ok/${fake.pkg.name}/-/${fake.pkg.name}-${fake.pkg.version}.tgz`);
  assert.equal(result.downloadedBytes, fake.tgzBytes.length);
  assert.deepEqual(events.at(-1), { bytes: fake.tgzBytes.length, total: fake.tgzBytes.length });
  assert.deepEqual((await readdir(dir)).sort(), [CUDA_LIB, SHARED_LIB]);
  const count = requests.length;
  const again = await installProviderLibs({ targetDir: dir, registry, pkg: fake.pkg });
  assert.deepEqual(again.files.map((f) => f.outcome), ['unchanged', 'unchanged']);
  assert.equal(again.downloadedBytes, 0);
  assert.equal(requests.length, count);
});

test('a response cut short fails with a clear line and leaves nothing', async () => {
  const dir = await target();
  await assert.rejects(installProviderLibs({ targetDir: dir, registry: `${base}/cut/`, pkg: fake.pkg }), /was cut off after \d+ of \d+ bytes/);
  assert.deepEqual(await readdir(dir), []);
});

test('an HTTP error status is reported', async () => {
  const dir = await target();
  await assert.rejects(installProviderLibs({ targetDir: dir, registry: `${base}/gone/`, pkg: fake.pkg }), /failed: HTTP 404 Not Found/);
  assert.deepEqual(await readdir(dir), []);
});

test('an unreachable registry suggests downloading elsewhere and using --from', async () => {
  // A port that was just free refuses connections.
  const closed = createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((ok) => closed.close(ok));
  const registry = `http://127.0.0.1:${port}/`;
  const expected = new RegExp(`cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): download ${registry}.*\\.tgz elsewhere and run gemma setup cuda --from`);
  await assert.rejects(installProviderLibs({ targetDir: await target(), registry, pkg: fake.pkg }), expected);
});

test('a tarball that fails the integrity check after download is not unpacked', async () => {
  const dir = await target();
  await assert.rejects(installProviderLibs({ targetDir: dir, registry: `${base}/ok/`, pkg: { ...fake.pkg, integrity: 'sha512-BBBB' } }), /http:.*\.tgz does not match the pinned integrity/);
  assert.deepEqual(await readdir(dir), []);
});

test('aborting mid-download removes the partial file', async () => {
  const dir = await target();
  const controller = new AbortController();
  const onProgress = (p: DownloadProgress): void => {
    if (p.bytes > 0) controller.abort();
  };
  await assert.rejects(installProviderLibs({ targetDir: dir, registry: `${base}/stall/`, pkg: fake.pkg, signal: controller.signal, onProgress }), { name: 'AbortError' });
  assert.deepEqual(await readdir(dir), []);
});

/** Short limits so that the stalls below end within the test's time. */
const FAST = { npm_config_fetch_timeout: '300' };

test("npm's fetch-timeout setting overrides the 30 s default", () => {
  assert.equal(idleTimeoutMs({}), DEFAULT_IDLE_TIMEOUT_MS);
  assert.equal(idleTimeoutMs({ npm_config_fetch_timeout: '1500' }), 1500);
  assert.equal(idleTimeoutMs({ npm_config_fetch_timeout: 'soon' }), DEFAULT_IDLE_TIMEOUT_MS);
});

test('a registry that accepts the connection and never answers, or stops sending, fails in one line once the idle limit passes', { timeout: 10_000 }, async () => {
  for (const mode of ['silent', 'stall']) {
    const dest = join(await target(), 'download');
    const url = tarballUrl(fake.pkg, `${base}/${mode}/`);
    const expected = /^127\.0\.0\.1:\d+ sent nothing for 0\.3 s \(http:.*\.tgz\): run the command again, or download it elsewhere and run gemma setup cuda --from <that file>$/;
    await assert.rejects(downloadTo(url, dest, { maxBytes: fake.pkg.tarballBytes, env: FAST }), (err: unknown) => err instanceof GemmaError && expected.test(err.message));
  }
});

test('a download is capped at the pinned tarball size, announced or not, and leaves nothing', async () => {
  for (const mode of ['more', 'big']) {
    const dir = await target();
    await assert.rejects(installProviderLibs({ targetDir: dir, registry: `${base}/${mode}/`, pkg: fake.pkg }), new RegExp(`more than the ${fake.pkg.tarballBytes} (bytes )?of the pinned package: check npm_config_registry`));
    assert.deepEqual(await readdir(dir), []);
  }
});
