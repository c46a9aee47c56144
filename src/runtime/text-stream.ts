/** The longest UTF-8 sequence: after this many byte tokens, an incomplete character is not going to complete. */
const MAX_PENDING = 4;

/**
 * Turns generated token ids into text pieces that are always valid UTF-8: byte-fallback
 * tokens that split a multi-byte character are held back until it is complete.
 */
export class TextStream {
  private pending: number[] = [];

  constructor(private readonly decode: (ids: number[]) => string) {}

  /** Text to print now for one more token ('' while a character is incomplete). */
  push(id: number): string {
    this.pending.push(id);
    const text = this.decode(this.pending);
    if (text.endsWith('\uFFFD') && this.pending.length < MAX_PENDING) return '';
    this.pending = [];
    return text;
  }

  /** Whatever is still held back, at the end of generation. */
  flush(): string {
    const text = this.pending.length > 0 ? this.decode(this.pending) : '';
    this.pending = [];
    return text;
  }
}
