import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from '../../../src/checkpoint/config.js';
import { MANIFEST_FILE, type Manifest } from '../../../src/export/manifest.js';
import { estimateMemory, fitContext, fitNotice, largestFittingContext, type PlanInput } from '../../../src/runtime/memory-plan.js';
import { SCORING_CHUNK } from '../../../src/runtime/perplexity.js';
import { DEFAULT_PREFILL_CHUNK } from '../../../src/runtime/runtime.js';
import { gemma } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/models.js';

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(2)} GB`;

describe('memory: a context that cannot fit', () => {
  let root: string;
  let env: Record<string, string>;
  let exportDir: string;
  let input: PlanInput;
  let max: number;
  /** Room for half the model's context with the shortest prompt chunks. */
  let limit: number;
  /** The estimates with the shortest prompt chunks (64 tokens), which a run falls back to before lowering its context. */
  let shortest: PlanInput;
  before(async () => {
    root = await tempDir('memory');
    env = { GEMMA_HOME: join(root, 'home') };
    exportDir = (await gemma(['quantize', 'tiny-random'], env)).stdout.trim();
    const manifest = JSON.parse(await readFile(join(exportDir, MANIFEST_FILE), 'utf8')) as Manifest;
    const { config, isSliding } = parseConfig(manifest.config);
    input = { config, slidingLayers: isSliding.filter(Boolean).length, weights: manifest.weights, sizes: manifest.sizes, ep: manifest.ep, prefillChunk: DEFAULT_PREFILL_CHUNK, allLogits: false };
    max = config.max_position_embeddings;
    shortest = { ...input, prefillChunk: 64 };
    limit = Math.ceil(estimateMemory(shortest, max / 2).total);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('-c larger than fits: refused in one line with the estimate and the largest context that fits, before any session loads', async () => {
    const fitting = largestFittingContext(shortest, max, limit);
    assert.ok(fitting >= max / 2 && fitting < max, `${fitting}`);
    const e = estimateMemory(shortest, max);
    const expected = `gemma: error: a context of ${max} tokens needs about ${gb(e.total)} (weights ${gb(e.weights)}, KV cache ${gb(e.kvCache)}, prompt activations ${gb(e.activations)}, logits ${gb(e.logits)}, runtime ${gb(e.runtime)}) and GEMMA_MEMORY_LIMIT makes ${gb(limit)} available: lower --ctx-size to at most ${fitting} or free memory\n`;
    for (const command of [['run', '-p', 'Hi', '-n', '2'], ['bench', '-p', '8', '-n', '2', '-r', '1']]) {
      const r = await gemma([command[0]!, exportDir, ...command.slice(1), '-c', String(max)], { ...env, GEMMA_MEMORY_LIMIT: String(limit) });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, expected, command[0]);
    }
    // eval reads a chunk of logits at every position: they count.
    const text = join(root, 'text.txt');
    await writeFile(text, 'Hello there, this is a text to score.');
    const scoring = { ...input, prefillChunk: 64, allLogits: true };
    const scoringLimit = Math.ceil(estimateMemory(scoring, max / 2).total);
    assert.ok(SCORING_CHUNK > 64, 'eval falls back from its scoring chunk to 64 tokens too');
    const ev = await gemma(['eval', exportDir, '--file', text, '-c', String(max)], { ...env, GEMMA_MEMORY_LIMIT: String(scoringLimit) });
    assert.equal(ev.code, 1, ev.stderr);
    assert.match(ev.stderr, new RegExp(`^gemma: error: a context of ${max} tokens needs about ${gb(estimateMemory(scoring, max).total)} .*logits ${gb(64 * input.config.vocab_size * 4)}.*at most ${largestFittingContext(scoring, max, scoringLimit)} or free memory\n$`));
    // A graph onnxruntime cannot load: the refusal comes first, so no session was created.
    const damaged = join(root, 'damaged');
    await cp(exportDir, damaged, { recursive: true });
    const manifest = JSON.parse(await readFile(join(damaged, MANIFEST_FILE), 'utf8')) as Manifest;
    for (const stage of manifest.stages) await writeFile(join(damaged, stage.file), 'not a graph');
    const r = await gemma(['run', damaged, '-p', 'Hi', '-c', String(max)], { ...env, GEMMA_MEMORY_LIMIT: String(limit) });
    assert.match(r.stderr, /^gemma: error: a context of \d+ tokens needs about [^\n]* or free memory\n$/);
  });

  test('without -c: the largest context that fits, said in one line, and the run goes on', async () => {
    const fitting = largestFittingContext(shortest, max, limit);
    const fitted = fitContext(input, undefined, max, { bytes: limit, source: 'GEMMA_MEMORY_LIMIT makes' });
    assert.equal(fitted.ctxSize, fitting);
    const r = await gemma(['run', exportDir, '-p', 'Hi', '-n', '2', '--json'], { ...env, GEMMA_MEMORY_LIMIT: `${limit / 1e9}GB` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `gemma: ${fitNotice(fitted.fit!)}\n`);
    assert.match(r.stderr, new RegExp(`^gemma: the model's context of ${max} tokens .*needs about ${gb(estimateMemory(input, max).total)} and GEMMA_MEMORY_LIMIT makes ${gb(limit)} available: using --ctx-size ${fitting}`));
    assert.ok(JSON.parse(r.stdout) !== null);
    // The context in effect is the lowered one: a test one token longer does not fit in it.
    const bench = await gemma(['bench', exportDir, '-p', String(fitting + 1), '-n', '1', '-r', '1'], { ...env, GEMMA_MEMORY_LIMIT: String(limit) });
    assert.equal(bench.code, 1);
    const [notice, refused] = bench.stderr.split('\n');
    assert.match(notice!, new RegExp(`^gemma: the model's context of ${max} tokens .*: using --ctx-size ${fitting}( and prompt chunks of \\d+ tokens)?$`));
    assert.equal(refused, `gemma: error: pp${fitting + 1} needs ${fitting + 1} tokens of context and the context holds ${fitting} (--ctx-size)`);
  });

  test('with room for the whole context, or an asked context that fits: nothing said, the run unchanged', async () => {
    for (const [args, memory] of [[[], '1000GB'], [['-c', '64'], String(limit)]] as const) {
      const r = await gemma(['run', exportDir, '-p', 'Hi', '-n', '2', ...args], { ...env, GEMMA_MEMORY_LIMIT: memory });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
    }
  });

  test('a GEMMA_MEMORY_LIMIT that is not a size is a one-line error', async () => {
    const r = await gemma(['run', exportDir, '-p', 'Hi'], { ...env, GEMMA_MEMORY_LIMIT: 'lots' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gemma: error: GEMMA_MEMORY_LIMIT=lots is not a size: [^\n]*\n$/);
  });
});
