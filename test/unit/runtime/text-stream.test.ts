import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadTokenizer, type GemmaTokenizer } from '../../../src/runtime/tokenizer.js';
import { TextStream } from '../../../src/runtime/text-stream.js';
import { TINY_TOKENIZER_DIR } from '../../../src/checkpoint/tiny-random.js';
import { rng } from '../../../src/util/random.js';
import { REAL_TOKENIZER_DIR } from '../../helpers/models.js';

let tokenizer: GemmaTokenizer;
before(async () => {
  tokenizer = await loadTokenizer(TINY_TOKENIZER_DIR);
});

test('byte-fallback tokens of a multi-byte character are held back until it is complete', () => {
  const ids = tokenizer.encode('a 日本 é!');
  // Gemma's byte-fallback tokens <0x00>..<0xFF> are ids 217..472 (kept in the tiny vocabulary).
  const bytes = ids.filter((id) => id >= 217 && id <= 472);
  assert.ok(bytes.length >= 8, 'the tiny vocabulary spells these characters in bytes');
  const stream = new TextStream(tokenizer);
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.flush());
  assert.ok(pieces.every((p) => !p.includes('\uFFFD')), JSON.stringify(pieces));
  assert.equal(pieces.join(''), 'a 日本 é!');
  assert.ok(pieces.filter((p) => p === '').length >= 5, 'incomplete characters produced empty pieces');
});

test('a byte sequence that never completes is flushed rather than held forever', () => {
  const stream = new TextStream(tokenizer);
  const lone = tokenizer.encode('日').slice(0, 1);
  assert.equal(stream.push(lone[0]!), '');
  assert.equal(stream.flush(), '\uFFFD');
});

test('special tokens are never printed', () => {
  const stream = new TextStream(tokenizer);
  assert.equal([106, 107, 2].map((id) => stream.push(id)).join(''), '');
  assert.equal(tokenizer.decode(tokenizer.encode('<end_of_turn>', 'control')), '');
});

describe("streaming with Gemma's real tokenizer equals the one-shot decode", () => {
  let real: GemmaTokenizer;
  let byteId: (b: number) => number;
  before(async () => {
    real = await loadTokenizer(REAL_TOKENIZER_DIR);
    // The vocabulary spells the tab as itself rather than <0x09>.
    byteId = (b) => real.idOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? real.encode(String.fromCharCode(b))[0]!;
  });

  /** What a streaming TextDecoder prints per token, fed each token's bytes: the fewest bytes held back. */
  function referencePieces(ids: number[]): string[] {
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const pieces = ids.map((id) => decoder.decode(Uint8Array.from(real.byteOf(id) !== undefined ? [real.byteOf(id)!] : Buffer.from(real.decode([id]))), { stream: true }));
    return [...pieces, decoder.decode()];
  }

  function streamed(ids: number[]): string[] {
    const stream = new TextStream(real);
    return [...ids.map((id) => stream.push(id)), stream.flush()];
  }

  function corpus(): number[][] {
    const random = rng(16);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const codePoint = (bytes: number): number => {
      const [low, high] = [[0, 0x7f], [0x80, 0x7ff], [0x800, 0xffff], [0x10000, 0x10ffff]][bytes - 1]!;
      const c = low! + Math.floor(random() * (high! - low! + 1));
      return c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
    };
    // A character spelled in byte-fallback tokens, 1 to 4 of them.
    const spelled = (): number[] => Array.from(Buffer.from(String.fromCodePoint(codePoint(1 + Math.floor(random() * 4)))), byteId);
    const mojibake = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
    const texts = ['naïve café — “quotes” 日本語 👋🏽 𓀀', '\uFFFD\u{13000}', '\uFFFD\uFFFD日\uFFFD', 'a\uFEFFb', '\u{10FFFF}\u{10000}\u0080\u07FF\u0800'];
    const vocab = real.vocabSize;
    const special = [0, 1, 2, 3, 106, 107, vocab + 5];
    return [
      ...texts.flatMap((t) => [real.encode(t), real.encode(mojibake(t)), real.encode(mojibake(mojibake(t)))]),
      ...Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(random() * 6) }, spelled).flat()),
      // Random bytes, mostly from the multi-byte range where sequences start, continue and break.
      ...Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(random() * 12) }, () => byteId(random() < 0.8 ? 0x80 + Math.floor(random() * 0x80) : Math.floor(random() * 0x80)))),
      ...Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(random() * 16) }, () => {
        const r = random();
        if (r < 0.4) return byteId(Math.floor(random() * 256));
        if (r < 0.5) return pick(special);
        if (r < 0.6) return real.idOf('�')!;
        return Math.floor(random() * vocab);
      })),
    ];
  }

  test('the issue\'s example: U+FFFD then a character in byte tokens', () => {
    const ids = [real.idOf('�')!, ...real.encode('\u{13000}')];
    assert.deepEqual(ids, [236193, 457, 364, 345, 345]);
    assert.deepEqual(streamed(ids), ['\uFFFD', '', '', '', '𓀀', '']);
  });

  test('on mojibake, byte-fallback characters of 1 to 4 bytes, random bytes and random ids: every push prints what a streaming UTF-8 decoder would, every prefix flushes to its one-shot decode', () => {
    for (const ids of corpus()) {
      const pieces = streamed(ids);
      assert.deepEqual(pieces, referencePieces(ids), JSON.stringify(ids));
      assert.equal(pieces.join(''), real.decode(ids), JSON.stringify(ids));
      for (let k = 1; k < ids.length; k++) assert.equal(streamed(ids.slice(0, k)).join(''), real.decode(ids.slice(0, k)), JSON.stringify(ids.slice(0, k)));
    }
  });
});
