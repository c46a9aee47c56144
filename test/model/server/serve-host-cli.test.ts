import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../../helpers/serve.js';
import { tempDir } from '../../helpers/models.js';

test('gemma serve --host 0.0.0.0 without a key warns; --verbose logs each request; --json prints the address; SIGTERM exits 143', { timeout: 60_000 }, async () => {
  const root = await tempDir('serve-host');
  try {
    const server = await startServer(['tiny-random', '--host', '0.0.0.0', '--port', '0', '--verbose', '--json'], { GEMMA_HOME: join(root, 'home') });
    const port = new URL(server.url).port;
    const res = await fetch(`http://127.0.0.1:${port}/v1/models`);
    assert.equal(res.status, 200, 'no key needed when none is set');
    server.child.kill('SIGTERM');
    const r = await server.done;
    assert.equal(r.code, 143);
    assert.deepEqual(JSON.parse(r.stdout), { model: 'tiny-random', url: `http://0.0.0.0:${port}` });
    const [warning, serving, logged, ...rest] = r.stderr.split('\n');
    assert.equal(warning, 'gemma: warning: --host 0.0.0.0 without --api-key: anyone who can reach this port can use the model');
    assert.equal(serving, `gemma: serving tiny-random on http://0.0.0.0:${port}`);
    assert.match(logged!, /^gemma: GET \/v1\/models 200 \d+ ms$/);
    assert.deepEqual(rest, ['']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
