/**
 * Cuts generated text at the first of the request's stop strings, as it streams: text that
 * could still be the start of a stop string is held back until the next piece tells.
 */
export class StopText {
  private held = '';
  private hit = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Whether a stop string has been seen: the answer ends before it. */
  get stopped(): boolean {
    return this.hit;
  }

  /** The text that can be sent after `piece`. */
  push(piece: string): string {
    if (this.hit) return '';
    const text = this.held + piece;
    const at = Math.min(...this.stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(at)) {
      this.hit = true;
      this.held = '';
      return text.slice(0, at);
    }
    const keep = this.partialStop(text);
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** What was held back, at the end of the answer. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** The length of the longest end of `text` that begins a stop string. */
  private partialStop(text: string): number {
    let longest = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(s.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
