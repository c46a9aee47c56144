import { ChatTemplate, foldSystem, type ChatMessage } from './chat-template.js';
import type { GemmaTokenizer } from './tokenizer.js';

export interface Reply {
  ids: number[];
  text: string;
}

interface Turn {
  user: string;
  reply: Reply;
}

/** Stands in for an assistant turn while rendering, to find where the template puts it. */
const PLACEHOLDER = '\u0000assistant-turn\u0000';

/**
 * A chat as the model sees it: the template's text around each message, and each
 * assistant turn as the token ids the model actually generated. Built this way, a new
 * turn extends the previous token sequence, so only its tokens need prefilling.
 */
export class Conversation {
  private turns: Turn[] = [];

  constructor(private readonly tokenizer: GemmaTokenizer, private readonly template: ChatTemplate, private readonly system: string | undefined) {}

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
    const tokens = this.tokenizer.encode(this.template.render(this.messages(users.slice(0, 1), []), true));
    for (let i = 0; i < replies.length; i++) {
      const before = this.template.render(this.messages(users.slice(0, i + 1), replies.slice(0, i).map((r) => r.text)), true);
      const withPlaceholder = this.template.render(this.messages(users.slice(0, i + 2), [...replies.slice(0, i).map((r) => r.text), PLACEHOLDER]), true);
      const cut = withPlaceholder.indexOf(PLACEHOLDER);
      if (cut < 0 || withPlaceholder.slice(0, cut) !== before) return this.reRendered(users, replies);
      tokens.push(...replies[i]!.ids, ...this.tokenizer.encode(withPlaceholder.slice(cut + PLACEHOLDER.length)));
    }
    return tokens;
  }

  /** For templates that are not prefix-stable: the whole conversation as text. */
  private reRendered(users: string[], replies: Reply[]): number[] {
    return this.tokenizer.encode(this.template.render(this.messages(users, replies.map((r) => r.text)), true));
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
