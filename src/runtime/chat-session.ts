import type { SpecialStrings } from '../tokenizer/gemma-bpe.js';
import { GemmaError } from '../util/errors.js';
import { ChatTemplate } from './chat-template.js';
import { Conversation } from './conversation.js';
import type { EngineCounters, EngineLike } from './engine.js';
import { generate, type GenerateOptions, type GenerateResult } from './generate.js';
import type { GemmaTokenizer } from './tokenizer.js';

export type TurnOptions = Omit<GenerateOptions, 'stopIds'>;

export interface TurnResult extends GenerateResult {
  promptTokens: number;
  /** Prompt tokens actually run through the model (the rest were already cached). */
  prefilled: number;
  /** Oldest exchanges forgotten to make room. */
  droppedTurns: number;
  counters: EngineCounters;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function delta(after: EngineCounters, before: EngineCounters): EngineCounters {
  return {
    prefillTokens: after.prefillTokens - before.prefillTokens,
    prefillMs: after.prefillMs - before.prefillMs,
    decodeTokens: after.decodeTokens - before.decodeTokens,
    decodeMs: after.decodeMs - before.decodeMs,
  };
}

/**
 * Chat and completion over one engine. The cache is reused across turns: each request
 * runs only the tokens that differ from what is already cached. When a conversation
 * outgrows the context, its oldest exchanges are dropped and the cache rebuilt.
 */
export class ChatSession {
  private readonly conversation: Conversation | undefined;

  constructor(
    private readonly engine: EngineLike,
    private readonly tokenizer: GemmaTokenizer,
    private readonly stopIds: ReadonlySet<number>,
    system: string | undefined,
    /** How special-token strings in what the user writes are read. */
    private readonly userSpecials: SpecialStrings,
  ) {
    const source = tokenizer.chatTemplate;
    this.conversation = source === undefined ? undefined : new Conversation(tokenizer, new ChatTemplate(source, tokenizer.bosToken), system, userSpecials);
  }

  get hasTemplate(): boolean {
    return this.conversation !== undefined;
  }

  reset(): void {
    this.conversation?.reset();
    this.engine.rollback(0);
  }

  private fitConversation(conversation: Conversation, user: string): { tokens: number[]; dropped: number } {
    let tokens = conversation.tokensWith(user);
    let dropped = 0;
    while (tokens.length >= this.engine.options.ctxSize && conversation.dropOldest()) {
      dropped++;
      tokens = conversation.tokensWith(user);
    }
    return { tokens, dropped };
  }

  async chat(user: string, options: TurnOptions): Promise<TurnResult> {
    if (this.conversation === undefined) throw new GemmaError('this model has no chat template: use --raw for plain completion');
    const { tokens, dropped } = this.fitConversation(this.conversation, user);
    const result = await this.run(tokens, options, dropped);
    this.conversation.record(user, { ids: result.ids, text: result.text });
    return result;
  }

  /** Plain completion of `text` after BOS, from an empty cache, outside any conversation. */
  async complete(text: string, options: TurnOptions): Promise<TurnResult> {
    this.conversation?.reset();
    return this.run([this.tokenizer.bosId, ...this.tokenizer.encode(text, this.userSpecials)], options, 0);
  }

  private async run(tokens: number[], options: TurnOptions, droppedTurns: number): Promise<TurnResult> {
    const ctx = this.engine.options.ctxSize;
    if (tokens.length >= ctx) {
      throw new GemmaError(`the prompt is ${tokens.length} tokens and the context holds ${ctx} (--ctx-size): shorten it or raise --ctx-size`);
    }
    // At least the last prompt token is run, to get the logits that start generation.
    const reused = Math.min(commonPrefix(this.engine.tokens, tokens), tokens.length - 1);
    this.engine.rollback(reused);
    const before = { ...this.engine.counters };
    const logits = (await this.engine.feed(tokens.slice(reused)))[0]!;
    const result = await generate(this.engine, logits, this.tokenizer, { ...options, stopIds: this.stopIds });
    return { ...result, promptTokens: tokens.length, prefilled: tokens.length - reused, droppedTurns, counters: delta(this.engine.counters, before) };
  }
}
