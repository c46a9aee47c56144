import { ChatTemplate, type ChatMessage } from './chat-template.js';
import type { EngineLike, EngineOptions } from './engine.js';
import { readGenerationDefaults, type GenerationDefaults } from './generation-config.js';
import { RenderedChat } from './rendered-chat.js';
import { stopIdsOf, type EngineLoadOptions } from './runtime.js';
import { loadTokenizer, type GemmaTokenizer } from './tokenizer.js';
import { openSlotEngines } from './worker/remote-stage.js';

/**
 * A model loaded once for `gemma serve`: its sessions in worker threads, shared by one engine
 * per slot, each engine with its own KV caches, so that slots never see each other's tokens.
 */
export interface ServedModel {
  engines: EngineLike[];
  tokenizer: GemmaTokenizer;
  /** Absent when the model has none: only raw completion then. */
  template: ChatTemplate | undefined;
  defaults: GenerationDefaults;
  stopIds: ReadonlySet<number>;
  options: EngineOptions;
  close(): Promise<void>;
}

/**
 * Renderings a server keeps: a chat page sends its whole history each turn, whose earlier prefixes are then kept,
 * while a request may hold a megabyte of text, so far fewer than a terminal chat's (at most about 64 MB).
 */
const SERVED_RENDERINGS = 32;

/** Loads the sessions (`options.caches` slots) while the tokenizer loads on this thread. */
export async function openServedModel(dir: string, options: EngineLoadOptions): Promise<ServedModel> {
  const loading = openSlotEngines(dir, options);
  // Held so that a tokenizer failure still awaits (and closes) the workers below.
  const tokenizer = loadTokenizer(dir).catch((err: unknown) => err as Error);
  const slots = await loading;
  try {
    const loaded = await tokenizer;
    if (loaded instanceof Error) throw loaded;
    const engine = slots.engines[0]!;
    const defaults = await readGenerationDefaults(dir, engine.spec.config);
    const template = loaded.chatTemplate !== undefined ? new ChatTemplate(loaded.chatTemplate, loaded.bosToken, SERVED_RENDERINGS) : undefined;
    return { engines: slots.engines, tokenizer: loaded, template, defaults, stopIds: stopIdsOf(defaults, loaded), options: engine.options, close: slots.close };
  } catch (err) {
    await slots.close();
    throw err;
  }
}

/**
 * A whole chat's prompt: the template's text as control tokens and every message's content as
 * text, so that what a client writes cannot forge a turn (docs/runtime.md, "Tokens").
 */
export function chatPrompt(tokenizer: GemmaTokenizer, template: ChatTemplate, messages: ChatMessage[]): number[] {
  return tokenizer.encodePieces(new RenderedChat(template, messages, true).pieces(0, 'text'));
}

/** Plain completion's prompt: BOS and the text, read as text. */
export const completionPrompt = (tokenizer: GemmaTokenizer, text: string): number[] => [tokenizer.bosId, ...tokenizer.encode(text, 'text')];
