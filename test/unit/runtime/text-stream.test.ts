import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadTokenizer, type GemmaTokenizer } from '../../../src/runtime/tokenizer.js';
import { TextStream } from '../../../src/runtime/text-stream.js';
import { TINY_TOKENIZER_DIR } from '../../../src/checkpoint/tiny-random.js';

let tokenizer: GemmaTokenizer;
before(async () => {
  tokenizer = await loadTokenizer(TINY_TOKENIZER_DIR);
});

test('byte-fallback tokens of a multi-byte character are held back until it is complete', () => {
  const ids = tokenizer.encode('a 日本 é!');
  // Gemma's byte-fallback tokens <0x00>..<0xFF> are ids 217..472 (kept in the tiny vocabulary).
  const bytes = ids.filter((id) => id >= 217 && id <= 472);
  assert.ok(bytes.length >= 8, 'the tiny vocabulary spells these characters in bytes');
  const stream = new TextStream(tokenizer.decode);
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.flush());
  assert.ok(pieces.every((p) => !p.includes('\uFFFD')), JSON.stringify(pieces));
  assert.equal(pieces.join(''), 'a 日本 é!');
  assert.ok(pieces.filter((p) => p === '').length >= 5, 'incomplete characters produced empty pieces');
});

test('a byte sequence that never completes is flushed rather than held forever', () => {
  const stream = new TextStream(tokenizer.decode);
  const lone = tokenizer.encode('日').slice(0, 1);
  assert.equal(stream.push(lone[0]!), '');
  assert.equal(stream.flush(), '\uFFFD');
});

test('special tokens are never printed', () => {
  const stream = new TextStream(tokenizer.decode);
  assert.equal([106, 107, 2].map((id) => stream.push(id)).join(''), '');
  assert.equal(tokenizer.decode(tokenizer.encode('<end_of_turn>')), '');
});
