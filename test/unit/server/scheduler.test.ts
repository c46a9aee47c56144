import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../../src/server/api-error.js';
import { Scheduler } from '../../../src/server/scheduler.js';

test('slots go to requests in arrival order; beyond the queue a request is refused at once with 503; a client gone leaves the queue', async () => {
  const s = new Scheduler(['a'], 2);
  const none = new AbortController().signal;
  assert.equal(await s.acquire(none), 'a');
  const order: string[] = [];
  const gone = new AbortController();
  const first = s.acquire(none).then((slot) => order.push(`first ${slot}`));
  const leaving = s.acquire(gone.signal);
  await assert.rejects(s.acquire(none), (err: unknown) => err instanceof ApiError && err.status === 503 && err.code === 'queue_full');
  gone.abort(new Error('gone'));
  await assert.rejects(leaving, /gone/);
  assert.equal(s.queued, 1);
  await assert.rejects(s.acquire(gone.signal), /gone/, 'a client gone before it asks does not queue');
  assert.equal(s.queued, 1);
  const second = s.acquire(none).then((slot) => order.push(`second ${slot}`));
  s.release('a');
  await first;
  s.release('a');
  await second;
  assert.deepEqual(order, ['first a', 'second a']);
  assert.equal(s.busy, 1);
});
