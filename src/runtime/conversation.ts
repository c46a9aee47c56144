import type { SpecialStrings } from '../tokenizer/gemma-bpe.js';
import { ChatTemplate, foldSystem, type ChatMessage } from './chat-template.js';
import { RenderedChat } from './rendered-chat.js';
import type { GemmaTokenizer } from './tokenizer.js';

export interface Reply {
  ids: number[];
  text: string;
}

interface Turn {
  user: string;
  reply: Reply;
}

/** The index of exchange `i`'s assistant message: messages alternate user, assistant. */
const replyMessage = (i: number): number => 2 * i + 1;

/**
 * A chat as the model sees it: the template's text around each message, and each
 * assistant turn as the token ids the model actually generated. Built this way, a new
 * turn extends the previous token sequence, so only its tokens need prefilling.
 * Special-token strings in the messages (and the system text) are read as `contents` says;
 * in the template's own text they are control tokens.
 */
export class Conversation {
  private turns: Turn[] = [];

  constructor(
    private readonly tokenizer: GemmaTokenizer, private readonly template: ChatTemplate,
    private readonly system: string | undefined, private readonly contents: SpecialStrings,
  ) {}

  get length(): number {
    return this.turns.length;
  }

  private messages(users: string[], replies: string[]): ChatMessage[] {
    return users.flatMap((user, i): ChatMessage[] => {
      const content = i === 0 ? foldSystem(this.system, user) : user;
      return i < replies.length ? [{ role: 'user', content }, { role: 'assistant', content: replies[i]! }] : [{ role: 'user', content }];
    });
  }

  /** The tokens of the whole conversation followed by `user` and the model's turn prompt. */
  tokensWith(user: string): number[] {
    const users = [...this.turns.map((t) => t.user), user];
    const replies = this.turns.map((t) => t.reply);
    let rendered = new RenderedChat(this.template, this.messages(users.slice(0, 1), []), true);
    const tokens = this.encode(rendered, 0);
    for (let i = 0; i < replies.length; i++) {
      const next = new RenderedChat(this.template, this.messages(users.slice(0, i + 2), replies.slice(0, i + 1).map((r) => r.text)), true);
      const cut = next.slotStart(replyMessage(i));
      if (cut < 0 || next.text.slice(0, cut) !== rendered.text) return this.reRendered(users, replies);
      tokens.push(...replies[i]!.ids, ...this.encode(next, next.slotEnd(replyMessage(i))));
      rendered = next;
    }
    return tokens;
  }

  private encode(rendered: RenderedChat, from: number): number[] {
    return this.tokenizer.encodePieces(rendered.pieces(from, this.contents));
  }

  /** For templates that are not prefix-stable: the whole conversation as text. */
  private reRendered(users: string[], replies: Reply[]): number[] {
    return this.encode(new RenderedChat(this.template, this.messages(users, replies.map((r) => r.text)), true), 0);
  }

  record(user: string, reply: Reply): void {
    this.turns.push({ user, reply });
  }

  /** Forgets the oldest exchange; false when there is none left. */
  dropOldest(): boolean {
    return this.turns.shift() !== undefined;
  }

  reset(): void {
    this.turns = [];
  }
}
