import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Turns } from '../../../src/runtime/turns.js';

test('turns: runs one at a time in the order asked; a failed run does not stop the next', async () => {
  const turns = new Turns();
  const log: string[] = [];
  const run = (name: string, fail = false) => turns.take(async () => {
    log.push(`${name} starts`);
    await new Promise((resolve) => setImmediate(resolve));
    log.push(`${name} ends`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  });
  const results = await Promise.allSettled([run('a'), run('b', true), run('c')]);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), ['a', 'b failed', 'c']);
  assert.deepEqual(log, ['a starts', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends']);
});
