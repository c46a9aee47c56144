import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toCsv, toJson, toMarkdown, type BenchReport } from '../../../src/commands/bench-report.js';

const report: BenchReport = {
  model: 'm', source: 's', variant: 'int4-b64-asym', precision: 'int4', blockSize: 64, scheme: 'asymmetric', attention: 'ops',
  sizeBytes: 1.5e9, ep: 'cpu', threads: 2, loadMs: 1000, ttftPrompt: 512, ttftMs: 8000, peakRssBytes: 3e9,
  tests: [{ kind: 'tg', tokens: 64, depth: 0, name: 'tg64', samples: [{ startPosition: 0, tokens: 64, ms: 4000 }], avgTps: 16, stddevTps: 0 }],
};

test('the weights column names the attention kernel where it is not the default, as every format does', () => {
  assert.match(toMarkdown(report), /\| m \| [\d.]+ GB \| int4 b64 asym \| cpu \| 2 \| tg64 \| 16\.00 ± 0\.00 \|/);
  const gqa = { ...report, variant: 'int4-b64-asym-gqa', attention: 'gqa' as const };
  assert.match(toMarkdown(gqa), /\| int4 b64 asym gqa \| cpu \|/);
  assert.equal(toJson(gqa).attention, 'gqa');
  assert.equal(toCsv(gqa).split('\n')[1], 'm,1500000000,int4,64,asymmetric,gqa,cpu,2,tg,64,0,16.000,0.000');
});
