import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TINY_TOKENIZER_DIR } from '../../../src/checkpoint/tiny-random.js';
import { loadTokenizer } from '../../../src/runtime/tokenizer.js';
import { encodeTables, TABLES_FILE } from '../../../src/tokenizer/tables-file.js';
import { readTables, readTokenizerConfig, tablesFromFolder } from '../../../src/tokenizer/tokenizer-files.js';
import { GemmaError } from '../../../src/util/errors.js';

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gemma-tok-'));
  await cp(TINY_TOKENIZER_DIR, dir, { recursive: true });
  return dir;
}

test('a folder with a tables file and one without load the same tokenizer', async () => {
  const dir = await folder();
  try {
    const text = '<start_of_turn>user\nHello there, tiny model!<end_of_turn>\n';
    const fromJson = await loadTokenizer(dir);
    const tables = await tablesFromFolder(dir, await readTokenizerConfig(dir));
    await writeFile(join(dir, TABLES_FILE), encodeTables(tables));
    // The tables file is what gets read: tokenizer.json is not needed any more.
    await rm(join(dir, 'tokenizer.json'));
    assert.deepEqual(await readTables(dir, await readTokenizerConfig(dir)), tables);
    const fromTables = await loadTokenizer(dir);
    assert.deepEqual(fromTables.encode(text), fromJson.encode(text));
    assert.equal(fromTables.decode(fromJson.encode(text)), fromJson.decode(fromJson.encode(text)));
    assert.equal(fromTables.bosId, fromJson.bosId);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged tables file is a one-line error that says what to do', async () => {
  const dir = await folder();
  try {
    await writeFile(join(dir, TABLES_FILE), 'gemma-bpe-tables/1 but cut short');
    await assert.rejects(loadTokenizer(dir), (e) => e instanceof GemmaError && e.message.includes(TABLES_FILE) && !e.message.includes('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
