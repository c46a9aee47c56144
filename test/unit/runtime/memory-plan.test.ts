import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeEstimate, estimateMemory, fitContext, fitNotice, kvBytesPerToken, largestFittingContext, type PlanInput } from '../../../src/runtime/memory-plan.js';
import { GemmaError } from '../../../src/util/errors.js';

/** The published gemma-2-2b, -9b and -27b dimensions that the plan reads. */
const CONFIGS = {
  '2b': { num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, hidden_size: 2304, intermediate_size: 9216, vocab_size: 256000, sliding_window: 4096 },
  '9b': { num_hidden_layers: 42, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 256, hidden_size: 3584, intermediate_size: 14336, vocab_size: 256000, sliding_window: 4096 },
  '27b': { num_hidden_layers: 46, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, hidden_size: 4608, intermediate_size: 36864, vocab_size: 256000, sliding_window: 4096 },
};

const plan = (shape: keyof typeof CONFIGS, precision: PlanInput['weights']['precision'], dataBytes: number, ep: PlanInput['ep'] = 'cpu'): PlanInput => ({
  config: CONFIGS[shape], slidingLayers: CONFIGS[shape].num_hidden_layers / 2, weights: { precision, attention: 'ops' }, sizes: { dataBytes, modelBytes: 0 }, ep, prefillChunk: 512, allLogits: false,
});

test('KV cache bytes per token: layers × 2 × kv_heads × head_dim × 4 (fp32, CPU) or × 2 (fp16, CUDA)', () => {
  assert.equal(kvBytesPerToken(CONFIGS['2b'], 'cpu'), 212_992);
  assert.equal(kvBytesPerToken(CONFIGS['9b'], 'cpu'), 688_128);
  assert.equal(kvBytesPerToken(CONFIGS['27b'], 'cpu'), 753_664, "issue #18's 0.75 MB per token");
  assert.equal(kvBytesPerToken(CONFIGS['27b'], 'cuda'), 376_832);
});

test('the estimate for the published shapes, piece by piece', () => {
  const e27 = estimateMemory(plan('27b', 'int4', 16e9), 4096);
  assert.equal(e27.kvCache, 3_087_007_744, '3.1 GB of cache at 4096 tokens');
  assert.equal(e27.activations, 6 * (2 * 32 * 512 * 4096 + 512 * (3 * 36864 + 4 * 4608)) * 4, 'the formula × 6, as measured');
  assert.equal(e27.logits, 256000 * 4, 'one position of logits');
  assert.equal(e27.runtime, 0.5e9);
  assert.ok(Math.abs(e27.weights - 16e9 * (5.99 - 0.12) / 5.28) < 1e6, `int4 weights take 1.11× the file: ${e27.weights}`);
  assert.equal(e27.total, e27.weights + e27.kvCache + e27.activations + e27.logits + e27.runtime);
  const e9 = estimateMemory(plan('9b', 'int8', 10e9), 8192);
  assert.equal(e9.kvCache, (21 * 8192 + 21 * (4096 + 512)) * 2 * 8 * 256 * 4, 'the 21 sliding layers keep a ring of window + prompt chunk rows');
  const gqa = estimateMemory({ ...plan('9b', 'int8', 10e9), weights: { precision: 'int8', attention: 'gqa' } }, 8192);
  assert.equal(gqa.kvCache, 8192 * 688_128, 'GroupQueryAttention layers keep every position');
  assert.ok(Math.abs(e9.weights - 10e9 * (2.96 - 0.12) / 2.71) < 1e6, `int8 weights take 1.05× the file: ${e9.weights}`);
  const cuda = estimateMemory(plan('2b', 'int4', 1.48e9, 'cuda'), 8192);
  assert.equal(cuda.kvCache, (13 * 8192 + 13 * 4608) * 2 * 4 * 256 * 2, 'the fp16 cache is kept on the host');
  assert.equal(cuda.activations, 0, 'attention and MLP run in device memory, not checked');
  const slots = estimateMemory({ ...plan('9b', 'int8', 10e9), caches: 3 }, 8192);
  assert.deepEqual([slots.kvCache, slots.activations], [3 * e9.kvCache, e9.activations], "gemma serve --parallel 3: three caches, one run's activations at a time");
});

test('the cache is counted at its capacity, which grows by steps', () => {
  const e = estimateMemory(plan('2b', 'int4', 1.5e9), 4097);
  assert.equal(e.kvCache, (4096 + 256) * 212_992);
});

test('perplexity holds a whole chunk of logits', () => {
  assert.equal(estimateMemory({ ...plan('2b', 'int4', 1.5e9), prefillChunk: 128, allLogits: true }, 2048).logits, 128 * 256000 * 4);
  assert.equal(estimateMemory({ ...plan('2b', 'int4', 1.5e9), prefillChunk: 128, allLogits: true }, 100).logits, 100 * 256000 * 4);
});

test('a short 2B run is estimated within 5 % of its measured peak RSS (docs/benchmarks.md, "Start-up")', () => {
  // `gemma run -p hi -n 128`: about 140 tokens; int4 b64 peaked at 2.33 GB with a 1.50 GB file, int8 b128 at 3.54 GB with 2.71 GB.
  const int4 = estimateMemory(plan('2b', 'int4', 1.5e9), 140).total;
  const int8 = estimateMemory(plan('2b', 'int8', 2.71e9), 140).total;
  assert.ok(Math.abs(int4 / 2.33e9 - 1) < 0.05, `${int4}`);
  assert.ok(Math.abs(int8 / 3.54e9 - 1) < 0.05, `${int8}`);
});

test('the largest fitting context is the last one whose estimate is within the budget', () => {
  const p = plan('2b', 'int4', 1.5e9);
  for (const available of [2.5e9, 3e9, 3.5e9]) {
    const m = largestFittingContext(p, 8192, available);
    assert.ok(m > 0 && m < 8192, `${available}: ${m}`);
    assert.ok(estimateMemory(p, m).total <= available);
    assert.ok(estimateMemory(p, m + 1).total > available);
  }
  assert.equal(largestFittingContext(p, 8192, 100e9), 8192);
  assert.equal(largestFittingContext(p, 8192, 1e9), 0, 'the weights alone exceed it');
  assert.equal(largestFittingContext(p, 8192, estimateMemory(p, 1).total), 0, 'a context of one token holds no answer');
  assert.equal(largestFittingContext(p, 8192, estimateMemory(p, 2).total), 2);
});

test('fitContext: an asked context that fits with no prompt chunk is refused in one line with the numbers; the model\'s is lowered; unknown memory is not checked', () => {
  const p = plan('27b', 'int4', 16e9);
  const available = { bytes: 20e9, source: 'this machine has' };
  const shortest = { ...p, prefillChunk: 64 };
  const m = largestFittingContext(shortest, 8192, 20e9);
  assert.ok(m > 0 && m < 8192);
  const e = estimateMemory(shortest, 8192);
  assert.throws(() => fitContext(p, 8192, 8192, available), (err: unknown) => {
    assert.ok(err instanceof GemmaError);
    assert.equal(err.message, `a context of 8192 tokens needs ${describeEstimate(e)} and this machine has 20.00 GB available: lower --ctx-size to at most ${m} or free memory`);
    assert.match(err.message, /needs about 23\.95 GB \(weights 17\.79 GB, KV cache 4\.65 GB, prompt activations 1\.00 GB/, 'the estimate with the shortest prompt chunks');
    return true;
  });
  const lowered = fitContext(p, undefined, 8192, available);
  assert.equal(lowered.ctxSize, m);
  const chunk = [512, 256, 128, 64].find((c) => estimateMemory({ ...p, prefillChunk: c }, m).total <= 20e9);
  assert.equal(lowered.prefillChunk, chunk, 'the longest chunk that fits the lowered context');
  assert.equal(fitNotice(lowered.fit!), `the model's context of 8192 tokens${chunk! < 512 ? ' in prompt chunks of 512' : ''} needs about ${(estimateMemory(p, 8192).total / 1e9).toFixed(2)} GB and this machine has 20.00 GB available: using --ctx-size ${m}${chunk! < 512 ? ` and prompt chunks of ${chunk} tokens` : ''}`);
  assert.deepEqual(fitContext(p, 1024, 8192, { ...available, bytes: 22e9 }), { ctxSize: 1024, prefillChunk: 512 });
  assert.deepEqual(fitContext(p, undefined, 8192, undefined), { ctxSize: 8192, prefillChunk: 512 });
  assert.throws(() => fitContext(p, undefined, 8192, { bytes: 17e9, source: 'this machine has' }), /free memory \(the model does not fit even with a context of 2 tokens\)$/);
});

test('fitContext: a context that fits only with shorter prompt chunks keeps its size and runs with the longest chunk that fits', () => {
  const p = plan('2b', 'int4', 1.5e9);
  const [at512, at256, at128] = [512, 256, 128].map((c) => estimateMemory({ ...p, prefillChunk: c }, 8192).total);
  assert.ok(at512! > at256! && at256! > at128!, 'shorter chunks need less: their intermediates and the sliding rings shrink');
  const available = { bytes: at128!, source: 'GEMMA_MEMORY_LIMIT makes' };
  const asked = fitContext(p, 8192, 8192, available);
  assert.deepEqual([asked.ctxSize, asked.prefillChunk], [8192, 128]);
  assert.equal(fitNotice(asked.fit!), `a context of 8192 tokens in prompt chunks of 512 needs about ${(at512! / 1e9).toFixed(2)} GB and GEMMA_MEMORY_LIMIT makes ${(at128! / 1e9).toFixed(2)} GB available: using prompt chunks of 128 tokens`);
  assert.deepEqual(fitContext(p, 8192, 8192, { ...available, bytes: at512! }), { ctxSize: 8192, prefillChunk: 512 }, 'nothing lowered, nothing said');
});
