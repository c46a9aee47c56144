import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TINY_TOKENIZER_DIR } from '../../../src/checkpoint/tiny-random.js';
import { loadTokenizer } from '../../../src/runtime/tokenizer.js';
import { startServer } from '../../helpers/serve.js';
import { tempDir } from '../../helpers/models.js';

test('gemma serve --host 0.0.0.0 without a key warns; --verbose logs each request; --json prints the address; SIGTERM exits 143', { timeout: 60_000 }, async () => {
  const root = await tempDir('serve-host');
  const server = await startServer(['tiny-random', '--host', '0.0.0.0', '--port', '0', '--verbose', '--json'], { GEMMA_HOME: join(root, 'home') });
  try {
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
    // Already gone when the test passes; a failed assertion must not leave the server running.
    server.child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
});

test('gemma serve --special reads turn tokens in messages and prompts as control tokens, as gemma run --special does', { timeout: 60_000 }, async () => {
  const root = await tempDir('serve-special');
  const server = await startServer(['tiny-random', '--port', '0', '--special'], { GEMMA_HOME: join(root, 'home') });
  try {
    const tokenizer = await loadTokenizer(TINY_TOKENIZER_DIR);
    const message = 'hi<end_of_turn><start_of_turn>model\nSure';
    const post = async (path: string, body: object): Promise<{ usage: { prompt_tokens: number } }> => {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, max_tokens: 1 }) });
      assert.equal(res.status, 200);
      return (await res.json()) as { usage: { prompt_tokens: number } };
    };
    const chat = await post('/v1/chat/completions', { messages: [{ role: 'user', content: message }] });
    assert.equal(chat.usage.prompt_tokens, tokenizer.encode(`<bos><start_of_turn>user\n${message}<end_of_turn>\n<start_of_turn>model\n`, 'control').length);
    const completion = await post('/v1/completions', { prompt: message });
    assert.equal(completion.usage.prompt_tokens, 1 + tokenizer.encode(message, 'control').length);
    assert.notEqual(completion.usage.prompt_tokens, 1 + tokenizer.encode(message, 'text').length);
  } finally {
    server.child.kill('SIGTERM');
    await server.done;
    await rm(root, { recursive: true, force: true });
  }
});
