import type { GemmaTokenizer } from './tokenizer.js';

export type StreamDecoder = Pick<GemmaTokenizer, 'decode' | 'byteOf' | 'isSpecial'>;

/** Bytes a UTF-8 sequence led by `lead` takes, and the range its second byte must be in (WHATWG's decoder, which TextDecoder is); undefined for bytes that lead nothing. */
function sequenceOf(lead: number): { length: number; low: number; high: number } | undefined {
  if (lead >= 0xc2 && lead <= 0xdf) return { length: 2, low: 0x80, high: 0xbf };
  if (lead >= 0xe0 && lead <= 0xef) return { length: 3, low: lead === 0xe0 ? 0xa0 : 0x80, high: lead === 0xed ? 0x9f : 0xbf };
  if (lead >= 0xf0 && lead <= 0xf4) return { length: 4, low: lead === 0xf0 ? 0x90 : 0x80, high: lead === 0xf4 ? 0x8f : 0xbf };
  return undefined;
}

const isContinuation = (b: number): boolean => b >= 0x80 && b <= 0xbf;

/**
 * Turns generated token ids into text pieces whose concatenation is the one-shot decode of
 * all of them: byte-fallback tokens that start a multi-byte character are held back until
 * the bytes after them complete it or show it is invalid, and only those.
 */
export class TextStream {
  private pending: number[] = [];

  constructor(private readonly tokens: StreamDecoder) {}

  /** Text to print now for one more token ('' while a character is incomplete). */
  push(id: number): string {
    this.pending.push(id);
    const held = this.incompleteTail();
    if (held === this.pending.length) return '';
    const text = this.tokens.decode(this.pending.slice(0, this.pending.length - held));
    this.pending = this.pending.slice(this.pending.length - held);
    return text;
  }

  /** Whatever is still held back, at the end of generation. */
  flush(): string {
    const text = this.pending.length > 0 ? this.tokens.decode(this.pending) : '';
    this.pending = [];
    return text;
  }

  /**
   * How many ids at the end are a UTF-8 sequence that more bytes may still complete: a lead
   * byte and the valid continuation bytes after it, with the special tokens among them (which
   * decoding skips, joining the bytes around them).
   */
  private incompleteTail(): number {
    let continuations = 0;
    let second = -1;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const id = this.pending[i]!;
      if (this.tokens.isSpecial(id)) continue;
      const byte = this.tokens.byteOf(id);
      if (byte === undefined) return 0;
      const sequence = sequenceOf(byte);
      if (sequence !== undefined) {
        const validSoFar = continuations === 0 || (second >= sequence.low && second <= sequence.high);
        return validSoFar && continuations + 1 < sequence.length ? this.pending.length - i : 0;
      }
      // Three continuation bytes complete any sequence (or are invalid whatever leads them).
      if (!isContinuation(byte) || ++continuations === 3) return 0;
      second = byte;
    }
    return 0;
  }
}
