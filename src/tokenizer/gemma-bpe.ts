import type { BpeTables } from './bpe-tables.js';
import { MinHeap } from './min-heap.js';
import { PairRanks } from './pair-ranks.js';

// A U+FEFF the model spells in bytes is text it wrote (Hugging Face's Rust decoder keeps it too), not a byte order mark to strip.
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/**
 * How the special-token strings in a text (`<bos>`, `<end_of_turn>` …: the added tokens flagged
 * special) are read: as those control tokens, or as plain text like the rest. Added tokens that
 * are not special (`<b>`, runs of spaces or newlines …) are vocabulary and match either way.
 */
export type SpecialStrings = 'control' | 'text';

/** A stretch of a text to encode, with how its special-token strings are read. */
export interface TextPiece {
  text: string;
  specials: SpecialStrings;
}

interface Section {
  text: string;
  /** An added token matched in the text, rather than the text between them. */
  added: boolean;
}

/**
 * Gemma's tokenizer over BpeTables, token for token what Hugging Face's tokenizers produce
 * for it (checked against @huggingface/tokenizers in the tests).
 */
export class GemmaBpe {
  private readonly ids = new Map<string, number>();
  private readonly ranks: PairRanks;
  /** Added tokens by their first UTF-16 unit, longest first. */
  private readonly addedByFirst = new Map<string, string[]>();
  /** The added tokens that are not special, which text matches as well. */
  private readonly plainAdded = new Set<string>();
  private readonly specialTexts = new Set<string>();
  private readonly special: Set<number>;
  private readonly byteIds: Int32Array;
  /** The byte of each byte-fallback token, -1 for the others. */
  private readonly byteValues: Int16Array;

  constructor(private readonly t: BpeTables) {
    t.vocab.forEach((token, id) => this.ids.set(token, id));
    this.ranks = new PairRanks(t.mergeLeft, t.mergeRight);
    this.special = new Set(t.specialIds);
    for (const id of t.addedIds) (this.special.has(id) ? this.specialTexts : this.plainAdded).add(t.vocab[id]!);
    for (const content of [...this.specialTexts, ...this.plainAdded].sort((a, b) => b.length - a.length)) {
      this.addedByFirst.set(content[0]!, [...(this.addedByFirst.get(content[0]!) ?? []), content]);
    }
    this.byteIds = Int32Array.from({ length: 256 }, (_, b) => this.ids.get(byteToken(b)) ?? -1);
    this.byteValues = new Int16Array(t.vocab.length).fill(-1);
    this.byteIds.forEach((id, b) => {
      if (id >= 0) this.byteValues[id] = b;
    });
  }

  get vocabSize(): number {
    return this.ids.size;
  }

  idOf(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** The byte a byte-fallback token (`<0x41>` …) stands for; undefined for other ids. */
  byteOf(id: number): number | undefined {
    const b = this.byteValues[id] ?? -1;
    return b >= 0 ? b : undefined;
  }

  /** Whether decoding leaves `id` out: special tokens, and ids outside the vocabulary where the unknown token they read as is special. */
  isSpecial(id: number): boolean {
    return this.special.has(this.known(id));
  }

  private known(id: number): number {
    return this.t.vocab[id] === undefined ? this.t.unkId : id;
  }

  /** Token ids of `text`; nothing is added around it. */
  encode(text: string, specials: SpecialStrings = 'text'): number[] {
    return this.encodePieces([{ text, specials }]);
  }

  /**
   * Token ids of the pieces' text as one text (BPE runs across their boundaries): a special
   * token is matched only where a 'control' piece holds the whole of it.
   */
  encodePieces(pieces: readonly TextPiece[]): number[] {
    const out: number[] = [];
    for (const section of this.split(pieces)) {
      if (section.added) {
        out.push(this.ids.get(section.text)!);
        continue;
      }
      const normalized = section.text.replaceAll(' ', '▁');
      if (this.plainAdded.has(normalized)) out.push(this.ids.get(normalized)!);
      else this.bpe(normalized, out);
    }
    return out;
  }

  /** The text between added tokens, and the added tokens themselves (longest match at each position). */
  private split(pieces: readonly TextPiece[]): Section[] {
    const text = pieces.map((p) => p.text).join('');
    const sections: Section[] = [];
    let start = 0;
    let piece = 0;
    let pieceEnd = pieces[0]?.text.length ?? 0;
    for (let i = 0; i < text.length;) {
      while (i >= pieceEnd) pieceEnd += pieces[++piece]!.text.length;
      const control = pieces[piece]!.specials === 'control';
      const match = this.addedByFirst.get(text[i]!)?.find((token) => text.startsWith(token, i)
        && (!this.specialTexts.has(token) || (control && i + token.length <= pieceEnd)));
      if (match === undefined) {
        i++;
        continue;
      }
      if (i > start) sections.push({ text: text.slice(start, i), added: false });
      sections.push({ text: match, added: true });
      i += match.length;
      start = i;
    }
    if (start < text.length) sections.push({ text: text.slice(start), added: false });
    return sections;
  }

  /** Merges the characters of `word` by rank (leftmost first among equals), then byte fallback for what is outside the vocabulary. */
  private bpe(word: string, out: number[]): void {
    const chars = Array.from(word);
    const n = chars.length;
    const id = Int32Array.from(chars, (c) => this.ids.get(c) ?? -1);
    const next = Int32Array.from(chars, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from(chars, (_, i) => i - 1);
    const queue = new MinHeap();
    const consider = (pos: number): void => {
      if (pos < 0 || next[pos]! < 0) return;
      const rank = this.ranks.rank(id[pos]!, id[next[pos]!]!);
      if (rank >= 0) queue.push(rank * n + pos);
    };
    for (let pos = 0; pos < n - 1; pos++) consider(pos);
    while (queue.size > 0) {
      const key = queue.pop()!;
      const rank = Math.floor(key / n);
      const pos = key - rank * n;
      const right = next[pos]!;
      // Entries outlive the pairs they were pushed for; a pair still there still has its rank.
      if (right < 0 || this.ranks.rank(id[pos]!, id[right]!) !== rank) continue;
      id[pos] = this.t.mergeResult[rank]!;
      next[pos] = next[right]!;
      if (next[pos]! >= 0) prev[next[pos]!] = pos;
      id[right] = -2;
      consider(prev[pos]!);
      consider(pos);
    }
    for (let pos = 0; pos >= 0; pos = next[pos]!) {
      if (id[pos]! >= 0) out.push(id[pos]!);
      else this.byteFallback(chars[pos]!, out);
    }
  }

  private byteFallback(char: string, out: number[]): void {
    const bytes = Array.from(Buffer.from(char, 'utf8'), (b) => this.byteIds[b]!);
    if (bytes.every((b) => b >= 0)) out.push(...bytes);
    else out.push(this.t.unkId);
  }

  /** Text of `ids`: ▁ as spaces, byte tokens joined into UTF-8 (invalid bytes as U+FFFD, as TextDecoder replaces them), special tokens left out. */
  decode(ids: readonly number[]): string {
    let text = '';
    let bytes: number[] = [];
    const flush = (): void => {
      if (bytes.length > 0) text += UTF8.decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const given of ids) {
      const id = this.known(given);
      if (this.special.has(id)) continue;
      const byte = this.byteOf(id);
      if (byte !== undefined) {
        bytes.push(byte);
        continue;
      }
      flush();
      text += this.t.vocab[id]!.replaceAll('▁', ' ');
    }
    flush();
    return text;
  }
}
