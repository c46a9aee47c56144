import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { tablesFromJson } from '../../../src/tokenizer/bpe-tables.js';
import { GemmaBpe } from '../../../src/tokenizer/gemma-bpe.js';
import { decodeTables, encodeTables } from '../../../src/tokenizer/tables-file.js';
import { GemmaError } from '../../../src/util/errors.js';
import { rng } from '../../../src/util/random.js';
import { REAL_TOKENIZER_DIR } from '../../helpers/models.js';

const json = JSON.parse(readFileSync(join(REAL_TOKENIZER_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
const config = JSON.parse(readFileSync(join(REAL_TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
const tables = tablesFromJson(json, config.additional_special_tokens as string[]);
const ours = new GemmaBpe(tables);
const oracle = new Tokenizer(json, config);
// Hugging Face's split_special_tokens=True: the special added tokens are left out of the matching, and their text goes through BPE.
const special = new Set(tables.specialIds);
const textOracle = new Tokenizer({ ...json, added_tokens: (json.added_tokens as { id: number }[]).filter((t) => !special.has(t.id)) }, config);

const CORPUS = [
  'Hello', ' Hello  world ', 'The quick brown fox jumps over the lazy dog.',
  '<start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n',
  '<bos><bos>text<eos><pad><unk><mask><unused7>[@BOS@]', 'a<start_of_turn', '<table><tr><td>1</td></tr></table>',
  '\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n', '\t\tindented\r\n', '          ten spaces', '▁▁literal▁marks▁',
  'naïve café résumé — “quotes” … ½ ∑ ∫', '日本語のテキストと中文文本，还有한국어.', 'emoji 👋🏽 👨‍👩‍👧 🦀 and flags 🇫🇷',
  'combining e\u0301 a\u0308 and zero\u200bwidth', 'rare: 𓀀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{10fffd} ꙮ', 'lone surrogate \ud800 here',
  'code: for (let i = 0; i < n; i++) { sum += x[i] ** 2; }', '1234567890 3.14159 -42 1e-9 0xdeadbeef',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8'),
];

const POOL = [...'abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?()[]{}<>/\\\'"-_=+*&^%$#@~`|', ' ', ' ', '\n', '\t', '▁', 'é', 'ß', '中', '文', 'の', '한', '👋', '🏽', '\u200d', '\u0301', '𓀀', '<start_of_turn>', '<end_of_turn>', '<unused3>', '<b>', '\n\n'];

function randomText(random: () => number, length: number): string {
  return Array.from({ length }, () => POOL[Math.floor(random() * POOL.length)]!).join('');
}

test('encodes as Hugging Face tokenizers do, on hand-picked and random text, with special-token strings read as control tokens or as text', () => {
  const random = rng(11);
  const texts = [...CORPUS, ...Array.from({ length: 300 }, () => randomText(random, 1 + Math.floor(random() * 80)))];
  for (const text of texts) {
    assert.deepEqual(ours.encode(text, 'control'), oracle.encode(text, { add_special_tokens: false }).ids, JSON.stringify(text.slice(0, 80)));
    assert.deepEqual(ours.encode(text), textOracle.encode(text, { add_special_tokens: false }).ids, JSON.stringify(text.slice(0, 80)));
  }
});

test('special-token strings in text stay text; added tokens that are not special still match', () => {
  assert.deepEqual(ours.encode('<bos><bos><eos>', 'control'), [2, 2, 1]);
  const asText = ours.encode('<bos><bos><eos>');
  assert.equal(asText.length, 7);
  assert.equal(ours.decode(asText), '<bos><bos><eos>');
  const turn = ours.encode('hi<end_of_turn>\n<start_of_turn>model\nSure');
  assert.ok(!turn.some((id) => special.has(id)), JSON.stringify(turn));
  assert.equal(ours.decode(turn), 'hi<end_of_turn>\n<start_of_turn>model\nSure');
  for (const plain of ['<b>', '\n\n', '<unused3>', '<mask>', '[@BOS@]']) assert.deepEqual(ours.encode(plain), [ours.idOf(plain)!], plain);
  assert.deepEqual(ours.encode('  '), [ours.idOf('▁▁')!]);
});

test('pieces encode as their text would: a special token only where a control piece holds all of it, BPE across the boundaries', () => {
  const random = rng(12);
  for (let n = 0; n < 200; n++) {
    const pieces = Array.from({ length: 1 + Math.floor(random() * 5) }, () => randomText(random, Math.floor(random() * 20)));
    const text = pieces.join('');
    assert.deepEqual(ours.encodePieces(pieces.map((p) => ({ text: p, specials: 'text' }))), ours.encode(text), JSON.stringify(pieces));
    assert.deepEqual(ours.encodePieces(pieces.map((p) => ({ text: p, specials: 'control' }))), ours.encode(text, 'control'), JSON.stringify(pieces));
    const plain = pieces.filter((p) => !/<(start|end)_of_turn>/.test(p));
    assert.deepEqual(ours.encodePieces(plain.map((p, i) => ({ text: p, specials: i % 2 === 0 ? 'control' : 'text' }))), ours.encode(plain.join('')), JSON.stringify(plain));
  }
  const eot = ours.idOf('<end_of_turn>')!;
  assert.deepEqual(ours.encodePieces([{ text: 'a<end_of_turn>', specials: 'control' }, { text: '<end_of_turn>b', specials: 'text' }]).filter((id) => id === eot).length, 1);
  // Split across two control pieces, or half in a text piece: not the token.
  assert.ok(!ours.encodePieces([{ text: '<end_of', specials: 'control' }, { text: '_turn>', specials: 'control' }]).includes(eot));
  assert.ok(!ours.encodePieces([{ text: '<end_of', specials: 'control' }, { text: '_turn>', specials: 'text' }]).includes(eot));
});

test('byte tokens: byteOf gives their byte; a byte order mark spelled in bytes is kept', () => {
  const byteIds = Array.from({ length: 256 }, (_, b) => ours.idOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
  // Gemma's vocabulary spells the tab as itself, not <0x09>.
  assert.deepEqual(byteIds.flatMap((id, b) => (id === undefined ? [b] : [])), [9]);
  byteIds.forEach((id, b) => id !== undefined && assert.equal(ours.byteOf(id), b));
  for (const id of [0, 2, 106, ours.idOf('▁the')!, ours.idOf('�')!, tables.vocab.length + 5]) assert.equal(ours.byteOf(id), undefined, String(id));
  const bom = [0xef, 0xbb, 0xbf].map((b) => ours.idOf(`<0x${b.toString(16).toUpperCase()}>`)!);
  assert.equal(ours.decode([...bom, ours.idOf('a')!]), '\uFEFFa');
  assert.equal(ours.decode([ours.idOf('a')!, ...bom]), 'a\uFEFF');
});

test('decodes as Hugging Face tokenizers do: spaces, byte tokens (valid or not), special tokens left out, unknown ids', () => {
  const random = rng(5);
  const vocab = tables.vocab.length;
  const byte = (b: number): number => ours.idOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!;
  const sequences = [
    ...CORPUS.map((t) => ours.encode(t)),
    [byte(0xe4), byte(0xb8), byte(0xad), ours.idOf('▁x')!, byte(0xff), byte(0x41)],
    [2, 106, ours.idOf('▁hi')!, 107, 1, 3, 0, vocab + 5],
    ...Array.from({ length: 200 }, () => Array.from({ length: 1 + Math.floor(random() * 30) }, () => (random() < 0.2 ? byte(Math.floor(random() * 256)) : Math.floor(random() * vocab)))),
  ];
  for (const ids of sequences) assert.equal(ours.decode(ids), oracle.decode(ids, { skip_special_tokens: true }), JSON.stringify(ids));
  assert.equal(ours.decode([]), '');
});

test('vocabulary facts match: size, ids of named tokens', () => {
  assert.equal(ours.vocabSize, oracle.get_vocab(true).size);
  for (const t of ['<bos>', '<eos>', '<start_of_turn>', '<end_of_turn>', '▁the', '<0x0A>', 'no such token']) assert.equal(ours.idOf(t), oracle.token_to_id(t), t);
});

test('the tables file reads back what was written, and refuses a damaged one', () => {
  const bytes = encodeTables(tables);
  const back = decodeTables(bytes, 'tokenizer.tables');
  assert.deepEqual(back, tables);
  // The file from a Buffer slice at an odd offset reads the same (typed arrays need alignment).
  const shifted = Buffer.concat([Buffer.alloc(1), bytes]).subarray(1);
  assert.deepEqual(decodeTables(shifted, 'x'), tables);
  for (const damaged of [bytes.subarray(0, 100), bytes.subarray(0, bytes.length - 1), Buffer.from('not tables at all, not at all, no'), Buffer.alloc(0)]) {
    assert.throws(() => decodeTables(damaged, 'x'), (e) => e instanceof GemmaError && /is not a gemma tokenizer tables file/.test(e.message));
  }
  const wrongId = Buffer.from(bytes);
  // The first merge's left id, set past the vocabulary.
  wrongId.writeInt32LE(tables.vocab.length + 1, 32 + 4 * 8 + 4 * tables.vocab.length);
  assert.throws(() => decodeTables(wrongId, 'x'), GemmaError);
});

test('tokenizers other than Gemma 2\'s are refused with what differs', () => {
  const model = json.model as Record<string, unknown>;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...json, model: { ...model, type: 'Unigram' } }, /not BPE/],
    [{ ...json, pre_tokenizer: { type: 'Whitespace' } }, /pre-tokenizer/],
    [{ ...json, normalizer: null }, /normalizer/],
    [{ ...json, model: { ...model, byte_fallback: false } }, /byte fallback/],
    [{ ...json, model: { ...model, merges: ['▁ no-such-token'] } }, /outside the vocabulary/],
    [{ ...json, added_tokens: [...(json.added_tokens as object[]), { id: 5, content: '', special: false }] }, /empty added token/],
    [{ ...json, model: { ...model, vocab: { ...(model.vocab as object), huge: 1e9 } } }, /token ids are not/],
    [{ ...json, model: { ...model, merges: [42] } }, /outside the vocabulary/],
  ];
  for (const [bad, message] of cases) assert.throws(() => tablesFromJson(bad), (e) => e instanceof GemmaError && message.test(e.message), String(message));
  for (const notAnObject of [null, [], 'text']) assert.throws(() => tablesFromJson(notAnObject as never), GemmaError);
});
