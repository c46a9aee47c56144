import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRepeatPenalty, argmax, filterCandidates, largest, NonFiniteLogitsError, Sampler } from '../../../src/runtime/sampler.js';
import { rng } from '../../../src/util/random.js';

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

/** The filters as first written: every logit an object, the whole vocabulary sorted. */
function sortedReference(l: Float32Array, p: { topK: number; topP: number; minP: number }): { id: number; p: number }[] {
  let c = Array.from(l, (logit, id) => ({ id, logit, p: 0 })).sort((a, b) => b.logit - a.logit);
  if (p.topK > 0) c = c.slice(0, p.topK);
  const max = c[0]!.logit;
  const z = c.reduce((s, x) => s + Math.exp(x.logit - max), 0);
  for (const x of c) x.p = Math.exp(x.logit - max) / z;
  if (p.topP < 1) {
    let mass = 0;
    c = c.slice(0, c.findIndex((x) => (mass += x.p) >= p.topP) + 1);
  }
  if (p.minP > 0) c = c.filter((x) => x.p >= p.minP * c[0]!.p);
  return c;
}

test('on a vocabulary-sized row with ties, the one-pass selection keeps what sorting everything keeps', () => {
  const random = rng(7);
  // Rounded to steps of 1/8 so that many logits tie; a peaked head as trained models have.
  const l = Float32Array.from({ length: 256000 }, (_, i) => Math.round((random() * 12 - 6 + (i % 997 === 0 ? 8 : 0)) * 8) / 8);
  for (const params of [
    { topK: 40, topP: 0.95, minP: 0.05 }, { topK: 0, topP: 0.9, minP: 0 }, { topK: 0, topP: 1, minP: 0.05 },
    { topK: 0, topP: 0.5, minP: 0.01 }, { topK: 1000, topP: 1, minP: 0 }, { topK: 1, topP: 0.1, minP: 0.5 },
    // No filter at all: every token is a candidate.
    { topK: 0, topP: 1, minP: 0 },
  ]) {
    const got = filterCandidates(l, params);
    const want = sortedReference(l, params);
    assert.deepEqual(got.map((c) => c.id), want.map((c) => c.id), JSON.stringify(params));
    got.forEach((c, i) => assert.ok(Math.abs(c.p - want[i]!.p) < 1e-12, `p of ${c.id} with ${JSON.stringify(params)}`));
  }
});

test('largest: the k largest, ties in id order, k beyond the row returns it all', () => {
  const l = Float32Array.from([1, 5, 3, 5, -2, 3]);
  assert.deepEqual(largest(l, 3), [1, 3, 2]);
  assert.deepEqual(largest(l, 10), [1, 3, 2, 5, 0, 4]);
  assert.deepEqual(largest(l, 0), []);
});

test('top-p at a mass the rounded probabilities never reach keeps every candidate instead of none', () => {
  // These probabilities sum to 1 − 2⁻⁵² in doubles, short of the largest top-p below 1.
  const kept = filterCandidates(Float32Array.from([1.75, 4.875, 3.375]), { topK: 0, topP: 1 - Number.EPSILON / 2, minP: 0 });
  assert.deepEqual(kept.map((c) => c.id), [1, 2, 0]);
});

test('top-p keeps a candidate whose cumulative mass lands exactly on the threshold, and no more', () => {
  // Two equal logits: the first one alone holds exactly 0.5.
  assert.deepEqual(filterCandidates(Float32Array.from([0, 0]), { ...off, topP: 0.5 }).map((c) => c.id), [0]);
  assert.deepEqual(filterCandidates(Float32Array.from([0, 0, 0, 0]), { ...off, topP: 0.75 }).map((c) => c.id), [0, 1, 2]);
});

test('temperature reshapes the sampled distribution: softmax(logits / T) at T = 0.5 and T = 2', () => {
  const draws = 20000;
  for (const temperature of [0.5, 2]) {
    const s = new Sampler({ temperature, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: 0 }, 11);
    const counts = new Array<number>(5).fill(0);
    for (let i = 0; i < draws; i++) counts[s.next(logits(), [])]!++;
    const scaled = [...logits()].map((l) => Math.exp(l / temperature));
    const z = scaled.reduce((a, b) => a + b, 0);
    // At T = 1 token 3 has 0.636; at 0.5 it has 0.865, at 2 it has 0.425: a 0.02 tolerance is eight times the noise of 20000 draws and under a tenth of those gaps.
    counts.forEach((n, id) => assert.ok(Math.abs(n / draws - scaled[id]! / z) < 0.02, `T=${temperature}: token ${id} drawn ${n / draws}, expected ${scaled[id]! / z}`));
  }
});

test('NaN or +Infinity among the logits is refused in one line, greedy or sampled; -Infinity is a token never drawn', () => {
  const greedy = new Sampler({ temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: 0 }, 1);
  const sampled = new Sampler({ temperature: 1, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, repeatLastN: 0 }, 1);
  const unbounded = new Sampler({ temperature: 1, topK: 0, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 0 }, 1);
  for (const bad of [NaN, Infinity]) {
    for (const at of [0, 2, 4]) {
      for (const s of [greedy, sampled, unbounded]) {
        const l = logits();
        l[at] = bad;
        assert.throws(() => s.next(l, []), (err: Error) => err instanceof NonFiniteLogitsError && /non-finite logits \(NaN\/Inf\).*convert it again/.test(err.message), `${bad} at ${at}`);
      }
    }
  }
  const masked = Float32Array.from([-Infinity, 1, -Infinity]);
  assert.equal(greedy.next(Float32Array.from(masked), []), 1);
  assert.equal(sampled.next(Float32Array.from(masked), []), 1);
  assert.throws(() => greedy.next(Float32Array.from([-Infinity, -Infinity]), []), NonFiniteLogitsError);
});
