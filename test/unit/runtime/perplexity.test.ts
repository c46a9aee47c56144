import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSoftmax } from '../../../src/runtime/perplexity.js';

test('logSoftmax: probabilities sum to 1, differences of logits are kept, huge logits do not overflow', () => {
  const logits = Float32Array.from([1000, 999, 990, -1000]);
  const lp = logSoftmax(logits);
  const total = lp.reduce((sum, v) => sum + Math.exp(v), 0);
  assert.ok(Math.abs(total - 1) < 1e-12, `sum ${total}`);
  assert.ok(Math.abs(lp[0]! - lp[1]! - 1) < 1e-12);
  assert.ok(Math.abs(lp[0]! + Math.log(1 + Math.exp(-1) + Math.exp(-10))) < 1e-12);
  assert.ok(lp.every(Number.isFinite));
});
