import type { SpecialStrings, TextPiece } from '../tokenizer/gemma-bpe.js';
import { GemmaError } from '../util/errors.js';
import type { ChatMessage, ChatTemplate } from './chat-template.js';

/** Stands in for message `i`'s content while rendering, to find where the template puts it. */
const slot = (i: number): string => `\u0000message-${i}\u0000`;
const SLOTS = /\u0000message-(\d+)\u0000/g;

const notSeparable = (i: number): GemmaError => new GemmaError(
  `the model's chat template (tokenizer_config.json) does not write message ${i + 1} once, apart from the text around it, so gemma cannot tell its text from the template's control tokens: use --raw, or a template that writes each message's content once`,
);

/**
 * A conversation as the chat template renders it, with each message's content in a slot:
 * the template's own text is known apart from what the messages say, so that only it can
 * produce control tokens (`<start_of_turn>` …) and a message saying `<end_of_turn>` stays text.
 */
export class RenderedChat {
  /** The rendering with a slot where each message's content goes. */
  readonly text: string;

  constructor(private readonly template: ChatTemplate, private readonly messages: readonly ChatMessage[], private readonly addGenerationPrompt: boolean) {
    this.text = template.render(messages.map((m, i) => ({ ...m, content: slot(i) })), addGenerationPrompt);
  }

  /** Where message `i`'s slot ends in `text`; -1 when the template leaves the message out. */
  slotEnd(i: number): number {
    const at = this.text.indexOf(slot(i));
    return at < 0 ? -1 : at + slot(i).length;
  }

  /** Where message `i`'s slot starts in `text`; -1 when the template leaves the message out. */
  slotStart(i: number): number {
    return this.text.indexOf(slot(i));
  }

  /**
   * The rendering from `from` (a position in `text`) on: the template's text, whose
   * special-token strings are control tokens, and each message's content as the template
   * writes it, with its special-token strings read as `contents` says.
   */
  pieces(from: number, contents: SpecialStrings): TextPiece[] {
    const pieces: TextPiece[] = [];
    let at = from;
    for (const match of this.text.slice(from).matchAll(SLOTS)) {
      const start = from + match.index;
      pieces.push({ text: this.text.slice(at, start), specials: 'control' }, { text: this.content(Number(match[1])), specials: contents });
      at = start + match[0].length;
    }
    pieces.push({ text: this.text.slice(at), specials: 'control' });
    return pieces;
  }

  /** Message `i`'s content as the template writes it (trimmed, for Gemma's), from a rendering with only that slot filled. */
  private content(i: number): string {
    const start = this.slotStart(i);
    const end = this.slotEnd(i);
    if (this.text.includes(slot(i), end)) throw notSeparable(i);
    const filled = this.template.render(this.messages.map((m, j) => (j === i ? m : { ...m, content: slot(j) })), this.addGenerationPrompt);
    const before = this.text.slice(0, start);
    const after = this.text.slice(end);
    if (filled.length < before.length + after.length || !filled.startsWith(before) || !filled.endsWith(after)) throw notSeparable(i);
    return filled.slice(before.length, filled.length - after.length);
  }
}
