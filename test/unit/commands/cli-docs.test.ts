import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLI_DOCS, renderCliDocs } from '../../../scripts/cli-docs.js';

test('docs/cli.md is the help the CLI prints (regenerate with node dist/scripts/cli-docs.js)', () => {
  assert.equal(readFileSync(CLI_DOCS, 'utf8'), renderCliDocs());
});

test('every quantize option appears in the docs with its default', () => {
  const docs = renderCliDocs();
  for (const flag of ['--precision <type>', '--block-size <n>', '--scheme <scheme>', '--accuracy-level <n>', '--keep-embeddings', '--json', '--out <dir>']) {
    assert.ok(docs.includes(flag), flag);
  }
  assert.match(docs, /--block-size <n>[^(]*\(default: 64 for\s+int4 on\s+cpu, 32 for\s+int4 on\s+cuda, 128 for\s+int8\)/);
  assert.match(docs, /--scheme <scheme>[^(]*\(default: asymmetric for int4 on\s+cpu, symmetric otherwise\) \(choices:\s+"asymmetric", "symmetric"\)/);
  assert.match(docs, /choices: "int4", "int8", "fp32", default: "int4"/);
});
