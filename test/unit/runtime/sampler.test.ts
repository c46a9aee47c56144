import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRepeatPenalty, argmax, filterCandidates, Sampler } from '../../../src/runtime/sampler.js';

const logits = (): Float32Array => Float32Array.from([2, 1, 0, 3, -1]);
const off = { topK: 0, topP: 1, minP: 0 };

test('top-k keeps the k largest logits, most probable first', () => {
  assert.deepEqual(filterCandidates(logits(), { ...off, topK: 2 }).map((c) => c.id), [3, 0]);
});

test('top-p keeps the smallest prefix reaching the probability mass', () => {
  // softmax([3,2,1,0,-1]) ≈ [0.636, 0.234, 0.086, 0.032, 0.012]
  assert.deepEqual(filterCandidates(logits(), { ...off, topP: 0.8 }).map((c) => c.id), [3, 0]);
  assert.deepEqual(filterCandidates(logits(), { ...off, topP: 0.9 }).map((c) => c.id), [3, 0, 1]);
  assert.deepEqual(filterCandidates(logits(), { ...off, topP: 0.5 }).map((c) => c.id), [3]);
});

test('min-p drops tokens below p times the top probability', () => {
  // p(top) ≈ 0.636: a floor of 0.1 × 0.636 keeps 0.234 and 0.086, drops 0.032
  assert.deepEqual(filterCandidates(logits(), { ...off, minP: 0.1 }).map((c) => c.id), [3, 0, 1]);
  assert.deepEqual(filterCandidates(logits(), { ...off, minP: 0.5 }).map((c) => c.id), [3]);
});

test('filters compose in llama.cpp order: top-k, then top-p over the kept tokens, then min-p', () => {
  const kept = filterCandidates(logits(), { topK: 3, topP: 0.95, minP: 0.2 });
  assert.deepEqual(kept.map((c) => c.id), [3, 0]);
  const total = filterCandidates(logits(), { topK: 3, topP: 1, minP: 0 }).reduce((s, c) => s + c.p, 0);
  assert.ok(Math.abs(total - 1) < 1e-12, 'probabilities renormalized over the top k');
});

test('repeat penalty divides positive and multiplies negative logits of recent tokens, once each', () => {
  const l = logits();
  applyRepeatPenalty(l, [0, 0, 4], 2);
  assert.deepEqual([...l], [1, 1, 0, 3, -2]);
});

test('temperature 0 is greedy, after the repeat penalty', () => {
  const s = new Sampler({ temperature: 0, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 4, repeatLastN: 1 }, 1);
  assert.equal(s.next(logits(), [7, 3]), 0, '3 penalized to 0.75, so 0 (logit 2) wins');
  assert.equal(argmax(logits()), 3);
});

test('a fixed seed reproduces the same draws; sampling follows the distribution', () => {
  const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: 0 };
  const draw = (seed: number): number[] => {
    const s = new Sampler(params, seed);
    return Array.from({ length: 2000 }, () => s.next(logits(), []));
  };
  const a = draw(42);
  assert.deepEqual(draw(42), a);
  assert.notDeepEqual(draw(43), a);
  const share = a.filter((id) => id === 3).length / a.length;
  assert.ok(Math.abs(share - 0.636) < 0.04, `token 3 drawn ${share}`);
});
