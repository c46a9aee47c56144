import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addOptions, optionValues } from '../../../src/commands/option-defs.js';
import { QUANTIZE_OPTIONS } from '../../../src/commands/quantize-options.js';

function parse(args: string[]): ReturnType<typeof optionValues<typeof QUANTIZE_OPTIONS>> {
  const cmd = addOptions(new Command('quantize').exitOverride().configureOutput({ writeErr: () => undefined }), QUANTIZE_OPTIONS);
  cmd.parse(args, { from: 'user' });
  return optionValues(QUANTIZE_OPTIONS, cmd.opts());
}

test('defaults flow through as one typed object', () => {
  assert.deepEqual(parse([]), {
    out: undefined, precision: 'int4', blockSize: undefined, scheme: undefined, accuracyLevel: undefined, ep: 'cpu', attention: undefined, stages: undefined, keepEmbeddings: false, json: false,
  });
});

test('values are parsed and typed', () => {
  const o = parse(['--precision', 'int8', '--block-size', '128', '--scheme', 'symmetric', '--accuracy-level', '0', '--ep', 'cuda', '--attention', 'gqa', '--stages', '1', '--keep-embeddings', '--json', '-o', 'x']);
  assert.deepEqual(o, { out: 'x', precision: 'int8', blockSize: 128, scheme: 'symmetric', accuracyLevel: 0, ep: 'cuda', attention: 'gqa', stages: 1, keepEmbeddings: true, json: true });
});

test('invalid values are rejected', () => {
  for (const args of [['--block-size', '48'], ['--block-size', '8'], ['--block-size', '1e2'], ['--accuracy-level', '-1'], ['--precision', 'q4_0'], ['--ep', 'rocm'], ['--scheme', 'q4_1'], ['--stages', '0'], ['--stages', '1.5'], ['--attention', 'flash']]) {
    assert.throws(() => parse(args), /invalid|Allowed choices/, args.join(' '));
  }
});
