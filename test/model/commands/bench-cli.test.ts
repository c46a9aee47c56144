import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gemma } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/models.js';

interface BenchJson {
  model: string; variant: string; precision: string; block_size: number; scheme: string; attention: string; size_bytes: number; ep: string; threads: number | string;
  load_ms: number; ttft: { prompt_tokens: number; ms: number }; peak_rss_bytes: number;
  tests: { name: string; kind: string; n_tokens: number; depth: number; repetitions: number; avg_ts: number; stddev_ts: number;
    samples: { start_position: number; tokens: number; ms: number; tps: number }[] }[];
}

describe('gemma bench', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await tempDir('bench');
    env = { GEMMA_HOME: join(root, 'home') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('--json: every field; token counts, repetitions and depths as requested', async () => {
    const r = await gemma(['bench', 'tiny-random', '-p', '16,32', '-n', '9', '-r', '3', '-d', '0,40', '--threads', '1', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = JSON.parse(r.stdout) as BenchJson;
    assert.deepEqual([out.model, out.variant, out.precision, out.block_size, out.scheme, out.attention, out.ep, out.threads], ['tiny-random', 'int4-b64-asym', 'int4', 64, 'asymmetric', 'ops', 'cpu', 1]);
    assert.ok(out.size_bytes > 1e6 && out.load_ms > 0 && out.ttft.ms > 0 && out.peak_rss_bytes > 1e7);
    assert.equal(out.ttft.prompt_tokens, 512);
    assert.deepEqual(out.tests.map((t) => t.name), ['pp16', 'pp32', 'tg9', 'pp16 @ d40', 'pp32 @ d40', 'tg9 @ d40']);
    for (const t of out.tests) {
      assert.equal(t.repetitions, 3);
      assert.equal(t.samples.length, 3);
      for (const s of t.samples) {
        assert.equal(s.tokens, t.n_tokens, `${t.name}: a tg test generates exactly N tokens, through end tokens`);
        assert.equal(s.start_position, t.depth, `${t.name} starts at its depth`);
        assert.ok(s.tps > 0);
      }
      assert.ok(t.avg_ts > 0 && t.stddev_ts >= 0);
    }
  });

  test('--decode-steps: tgN decodes exactly N tokens in runs of the decode loop', async () => {
    const one = join(root, 'one-graph');
    assert.equal((await gemma(['quantize', 'tiny-random', '--stages', '1', '--out', one], env)).code, 0);
    const r = await gemma(['bench', one, '-p', '8', '-n', '11', '-r', '1', '-d', '0,5', '--threads', '1', '--decode-steps', '4', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const tg = (JSON.parse(r.stdout) as BenchJson).tests.filter((t) => t.kind === 'tg');
    assert.deepEqual(tg.map((t) => t.samples.map((s) => [s.start_position, s.tokens])), [[[0, 11]], [[5, 11]]]);
  });

  test('markdown by default, CSV on request', async () => {
    const md = await gemma(['bench', 'tiny-random', '-p', '8', '-n', '4', '-r', '1'], env);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^\| model \| size \| weights \| ep \| threads \| test \| t\/s \|\n/);
    assert.match(md.stdout, /\| tiny-random \| [\d.]+ MB \| int4 b64 asym \| cpu \| auto \| pp8 \| [\d.]+ ± [\d.]+ \|/);
    assert.match(md.stdout, /time to first token \(512-token prompt\)/);
    const csv = await gemma(['bench', 'tiny-random', '-p', '8', '-n', '4', '-r', '1', '--csv'], env);
    const lines = csv.stdout.trim().split('\n');
    assert.equal(lines[0], 'model,size_bytes,precision,block_size,scheme,attention,ep,threads,test,n_tokens,depth,avg_ts,stddev_ts');
    assert.equal(lines.length, 3);
  });

  test('bad flags: one-line errors', async () => {
    const cases: [string[], RegExp][] = [
      [['-p', '0'], /--n-prompt.*must be a positive integer/],
      [['-n', '-3'], /--n-gen.*must be a positive integer/],
      [['-p', '12,x'], /'x' is not an integer/],
      [['-r', 'abc'], /--repetitions.*must be an integer/],
      [['-r', '0'], /must be from 1 to 1000/],
      [['-d', '-5'], /must be 0 or more/],
      [['-d', '1000'], /pp512 @ d1000 needs 1512 tokens of context and the context holds 1024/],
      [['--json', '--csv'], /choose one of --json and --csv/],
    ];
    for (const [args, message] of cases) {
      const r = await gemma(['bench', 'tiny-random', ...args], env);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /^gemma: error: [^\n]+\n$/, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
