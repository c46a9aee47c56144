import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentHash } from '../../../src/hub/content-hash.js';
import { HttpStatusError, TransientError, UnreachableError } from '../../../src/hub/http.js';
import { hubError, statusMessage, type ErrorContext, type FailedRequest } from '../../../src/hub/hub-errors.js';
import { runPool } from '../../../src/hub/pool.js';
import { withRetries, type RetryPolicy } from '../../../src/hub/retry.js';

test('content hashes: sha256 for LFS files, git blob sha1 for the others', () => {
  const lfs = contentHash({ lfs: true, size: 5 });
  lfs.update(Buffer.from('hello'));
  assert.equal(lfs.hex(), '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  const git = contentHash({ lfs: false, size: 5 });
  git.update(Buffer.from('hel'));
  git.update(Buffer.from('lo'));
  // `printf hello | git hash-object --stdin`
  assert.equal(git.hex(), 'b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0');
});

const policy = (retryUnreachable: boolean): RetryPolicy => ({ attempts: 3, delayMs: 1, retryUnreachable });

test('retries transient failures with backoff, up to the attempt limit', async () => {
  let calls = 0;
  const delays: number[] = [];
  const value = await withRetries({ ...policy(false), onRetry: (r) => delays.push(r.attempt) }, async () => {
    if (++calls < 3) throw new TransientError('reset');
    return 'ok';
  });
  assert.equal(value, 'ok');
  assert.deepEqual(delays, [2, 3]);
  calls = 0;
  await assert.rejects(withRetries(policy(false), async () => {
    calls++;
    throw new TransientError('still down');
  }), /still down/);
  assert.equal(calls, 3);
});

test('does not retry other errors; retries an unreachable host only when asked', async () => {
  for (const [err, retry, expected] of [[new HttpStatusError(404, undefined), true, 1], [new Error('bug'), true, 1], [new UnreachableError('refused'), false, 1], [new UnreachableError('refused'), true, 3]] as const) {
    let calls = 0;
    await assert.rejects(withRetries(policy(retry), async () => {
      calls++;
      throw err;
    }));
    assert.equal(calls, expected, err.message);
  }
});

test('runPool sums results, runs at most `limit` at once, and aborts the rest on the first failure', async () => {
  let running = 0;
  let peak = 0;
  const total = await runPool([1, 2, 3, 4, 5], 2, undefined, async (n) => {
    peak = Math.max(peak, ++running);
    await new Promise((ok) => setTimeout(ok, 5));
    running--;
    return n;
  });
  assert.equal(total, 15);
  assert.equal(peak, 2);
  const seen: boolean[] = [];
  await assert.rejects(runPool([1, 2, 3], 3, undefined, async (n, signal) => {
    if (n === 1) throw new Error('first');
    await new Promise((ok) => setTimeout(ok, 20));
    seen.push(signal.aborted);
    return n;
  }), /first/);
  assert.deepEqual(seen, [true, true]);
});

const ctx = (token?: string, gated = false): ErrorContext => ({ endpoint: 'https://hub.example', repo: 'google/gemma-2-2b-it', revision: 'main', token: token ? { value: token, source: '--token' } : undefined, gated });

test('HTTP failures become messages a user can act on, naming the repo and never the token', () => {
  const cases: [HttpStatusError, ErrorContext, RegExp][] = [
    [new HttpStatusError(401, 'GatedRepo'), ctx(), /google\/gemma-2-2b-it is a gated model: accept its license at https:\/\/hub.example\/google\/gemma-2-2b-it, then pass --token.*same account/],
    [new HttpStatusError(403, 'GatedRepo'), ctx('hf_secretTOKEN123'), /gated model and the token from --token has no access.*accept the license.*account that token belongs to/],
    [new HttpStatusError(403, undefined), ctx('hf_secretTOKEN123', true), /gated model and the token from --token has no access/],
    [new HttpStatusError(401, 'InvalidCredentials'), ctx('hf_secretTOKEN123'), /rejected the token from --token \(HTTP 401\): it is invalid or expired/],
    [new HttpStatusError(401, 'RepoNotFound'), ctx(), /google\/gemma-2-2b-it not found on https:\/\/hub.example, or it is private/],
    [new HttpStatusError(404, 'RepoNotFound'), ctx('hf_secretTOKEN123'), /not found on https:\/\/hub.example, or the token from --token has no access/],
    [new HttpStatusError(404, 'RevisionNotFound'), ctx(), /revision "main" not found in google\/gemma-2-2b-it/],
    [new HttpStatusError(418, undefined), ctx(), /^the Hub answered HTTP 418 for the request for the model info of google\/gemma-2-2b-it$/],
  ];
  for (const [err, c, message] of cases) {
    const text = statusMessage(err, c, { api: 'the model info' });
    assert.match(text, message);
    assert.ok(!text.includes('secret'));
  }
  assert.match((hubError(new UnreachableError('ECONNREFUSED'), ctx(), { api: 'the model info' }) as Error).message, /cannot reach the Hub at https:\/\/hub.example.*HF_HUB_OFFLINE=1/);
  const bug = new TypeError('bug');
  assert.equal(hubError(bug, ctx(), { api: 'the model info' }), bug);
});

test('a failure that retries did not cure says "resume" only for a transfer that kept bytes', () => {
  const message = (request: FailedRequest): string => (hubError(new TransientError('HTTP 503'), ctx(), request) as Error).message;
  assert.equal(message({ api: 'the file list' }), 'the Hub at https://hub.example kept failing (HTTP 503) on the request for the file list of google/gemma-2-2b-it: it may be down or overloaded; try again later');
  assert.equal(message({ file: 'model.safetensors', resumable: true }), 'model.safetensors: the transfer kept failing (HTTP 503); the bytes received are kept: run the same command again to resume');
  assert.equal(message({ file: 'config.json', resumable: false }), 'config.json: the download kept failing (HTTP 503); try again later');
});
