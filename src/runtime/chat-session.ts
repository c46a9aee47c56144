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

/** The chat so far, and the same chat without its exchanges: the least a new message needs. */
interface Chats {
  conversation: Conversation;
  empty: Conversation;
}

/**
 * A prompt must leave the answer room in the cache: at most `ctxSize - 1` tokens, so that
 * an answer has at least two tokens (docs/runtime.md, "Context policy").
 */
function leavesRoom(prompt: readonly number[], ctxSize: number): boolean {
  return prompt.length < ctxSize;
}

function refuseUnlessRoom(prompt: readonly number[], ctxSize: number): void {
  if (!leavesRoom(prompt, ctxSize)) {
    throw new GemmaError(`the prompt is ${prompt.length} tokens and the context holds ${ctxSize} (--ctx-size): shorten it or raise --ctx-size`);
  }
}

/**
 * Chat and completion over one engine. The cache is reused across turns: each request
 * runs only the tokens that differ from what is already cached. When a conversation
 * outgrows the context, its oldest exchanges are dropped and the cache rebuilt.
 */
export class ChatSession {
  private readonly chats: Chats | undefined;

  constructor(
    private readonly engine: EngineLike,
    private readonly tokenizer: GemmaTokenizer,
    private readonly stopIds: ReadonlySet<number>,
    system: string | undefined,
    /** How special-token strings in what the user writes are read. */
    private readonly userSpecials: SpecialStrings,
  ) {
    const source = tokenizer.chatTemplate;
    if (source === undefined) return;
    const template = new ChatTemplate(source, tokenizer.bosToken);
    const conversation = (): Conversation => new Conversation(tokenizer, template, system, userSpecials);
    this.chats = { conversation: conversation(), empty: conversation() };
  }

  get hasTemplate(): boolean {
    return this.chats !== undefined;
  }

  reset(): void {
    this.chats?.conversation.reset();
    this.engine.rollback(0);
  }

  /**
   * Drops the oldest exchanges until the conversation with `user` fits, but only once
   * `user` is known to fit on its own: a message that can never fit leaves the chat as it was.
   */
  private fitConversation({ conversation, empty }: Chats, user: string): { tokens: number[]; dropped: number } {
    const ctx = this.engine.options.ctxSize;
    let tokens = conversation.tokensWith(user);
    if (!leavesRoom(tokens, ctx)) refuseUnlessRoom(empty.tokensWith(user), ctx);
    let dropped = 0;
    while (!leavesRoom(tokens, ctx) && conversation.dropOldest()) {
      dropped++;
      tokens = conversation.tokensWith(user);
    }
    return { tokens, dropped };
  }

  async chat(user: string, options: TurnOptions): Promise<TurnResult> {
    if (this.chats === undefined) throw new GemmaError('this model has no chat template: use --raw for plain completion');
    const { tokens, dropped } = this.fitConversation(this.chats, user);
    const result = await this.run(tokens, options, dropped);
    this.chats.conversation.record(user, { ids: result.ids, text: result.text });
    return result;
  }

  /** Plain completion of `text` after BOS, from an empty cache, outside any conversation. */
  async complete(text: string, options: TurnOptions): Promise<TurnResult> {
    this.chats?.conversation.reset();
    return this.run([this.tokenizer.bosId, ...this.tokenizer.encode(text, this.userSpecials)], options, 0);
  }

  private run(tokens: number[], options: TurnOptions, droppedTurns: number): Promise<TurnResult> {
    return runPrompt(this.engine, this.tokenizer, this.stopIds, tokens, options, droppedTurns);
  }
}

/**
 * Generates after `tokens` (a whole prompt, BOS first) on `engine`, running only what its cache does
 * not already hold of them: the rest of the cache is dropped first. `options.interrupted` is polled
 * between prompt chunks too, so that a long prompt stops early, with no answer.
 */
export async function runPrompt(
  engine: EngineLike, tokenizer: GemmaTokenizer, stopIds: ReadonlySet<number>, tokens: number[], options: TurnOptions, droppedTurns = 0,
): Promise<TurnResult> {
  refuseUnlessRoom(tokens, engine.options.ctxSize);
  // At least the last prompt token is run, to get the logits that start generation.
  engine.rollback(Math.min(commonPrefix(engine.tokens, tokens), tokens.length - 1));
  const reused = engine.tokens.length;
  const before = { ...engine.counters };
  const [logits] = await engine.feed(tokens.slice(reused), false, options.interrupted);
  const result: GenerateResult = logits === undefined ? { ids: [], text: '', stopReason: 'interrupted' } : await generate(engine, logits, tokenizer, { ...options, stopIds });
  return { ...result, promptTokens: tokens.length, prefilled: tokens.length - reused, droppedTurns, counters: delta(engine.counters, before) };
}
