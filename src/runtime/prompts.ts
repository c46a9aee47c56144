import { Worker } from 'node:worker_threads';
import { GemmaError } from '../util/errors.js';
import type { SpecialStrings } from '../tokenizer/gemma-bpe.js';
import type { ChatMessage, ChatTemplate } from './chat-template.js';
import { RenderedChat } from './rendered-chat.js';
import type { GemmaTokenizer } from './tokenizer.js';

/**
 * A whole chat's prompt: the template's text as control tokens and every message's content as
 * `contents` says (text by default, so that what a client writes cannot forge a turn; docs/runtime.md, "Tokens").
 */
export function chatPrompt(tokenizer: GemmaTokenizer, template: ChatTemplate, messages: ChatMessage[], contents: SpecialStrings): number[] {
  return tokenizer.encodePieces(new RenderedChat(template, messages, true).pieces(0, contents));
}

/** Plain completion's prompt: BOS and the text, its special-token strings read as `contents` says. */
export const completionPrompt = (tokenizer: GemmaTokenizer, text: string, contents: SpecialStrings): number[] => [tokenizer.bosId, ...tokenizer.encode(text, contents)];

export type PromptRequest = { id: number } & ({ kind: 'chat'; messages: ChatMessage[] } | { kind: 'completion'; text: string });
export type PromptReply = { id: number; tokens: number[] } | { id: number; error: string; expected: boolean };
export interface PromptWorkerData {
  dir: string;
  /** Renderings the worker's chat template keeps. */
  renderings: number;
  /** How special-token strings in what clients send are read (`gemma serve --special`). */
  contents: SpecialStrings;
}

/** The first reply's id: the worker has loaded its tokenizer and template. */
const READY = -1;

/**
 * Prompts built in a worker thread with its own tokenizer and chat template: rendering a long chat and tokenizing a
 * megabyte of text take up to seconds (`gemma serve`'s message limit, docs/serve.md), which on the main thread would
 * pause every other answer's stream.
 */
export class Prompts {
  private readonly waiting = new Map<number, { resolve: (tokens: number[]) => void; reject: (err: Error) => void }>();
  private nextId = 0;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: PromptReply) => this.settle(reply));
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => this.failAll(new Error(`the prompt worker stopped (exit code ${code})`)));
  }

  /** Starts the worker; resolves once its tokenizer has loaded. */
  static async open(data: PromptWorkerData): Promise<Prompts> {
    const prompts = new Prompts(new Worker(new URL('./worker/prompt-host.js', import.meta.url), { workerData: data }));
    try {
      await prompts.waitFor(READY);
      return prompts;
    } catch (err) {
      await prompts.close();
      throw err;
    }
  }

  chat(messages: ChatMessage[]): Promise<number[]> {
    return this.ask({ id: this.nextId++, kind: 'chat', messages });
  }

  completion(text: string): Promise<number[]> {
    return this.ask({ id: this.nextId++, kind: 'completion', text });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private ask(request: PromptRequest): Promise<number[]> {
    const reply = this.waitFor(request.id);
    this.worker.postMessage(request);
    return reply;
  }

  private waitFor(id: number): Promise<number[]> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private settle(reply: PromptReply): void {
    const waiter = this.waiting.get(reply.id);
    this.waiting.delete(reply.id);
    if ('tokens' in reply) waiter?.resolve(reply.tokens);
    else waiter?.reject(reply.expected ? new GemmaError(reply.error) : new Error(reply.error));
  }

  private failAll(err: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }
}
