import type { SpecialStrings } from '../tokenizer/gemma-bpe.js';
import type { EngineLike, EngineOptions } from './engine.js';
import { readGenerationDefaults, type GenerationDefaults } from './generation-config.js';
import { Prompts } from './prompts.js';
import { stopIdsOf, type EngineLoadOptions } from './runtime.js';
import { loadTokenizer, type GemmaTokenizer } from './tokenizer.js';
import { openSlotEngines } from './worker/remote-stage.js';

/**
 * A model loaded once for `gemma serve`: its sessions in worker threads, shared by one engine
 * per slot, each engine with its own KV caches, so that slots never see each other's tokens.
 */
export interface ServedModel {
  engines: EngineLike[];
  /** Decodes answers on this thread. */
  tokenizer: GemmaTokenizer;
  /** Builds prompts in a worker. */
  prompts: Prompts;
  /** Without a chat template only raw completion is served. */
  hasTemplate: boolean;
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

/** Loads the sessions (`options.caches` slots) while the tokenizer loads on this thread; `contents`: how client text's special-token strings are read. */
export async function openServedModel(dir: string, options: EngineLoadOptions, contents: SpecialStrings): Promise<ServedModel> {
  const loading = openSlotEngines(dir, options);
  // Held so that a tokenizer failure still awaits (and closes) the workers below.
  const tokenizer = loadTokenizer(dir).catch((err: unknown) => err as Error);
  const slots = await loading;
  try {
    const loaded = await tokenizer;
    if (loaded instanceof Error) throw loaded;
    const engine = slots.engines[0]!;
    const defaults = await readGenerationDefaults(dir, engine.spec.config);
    const prompts = await Prompts.open({ dir, renderings: SERVED_RENDERINGS, contents });
    const close = async (): Promise<void> => void (await Promise.all([slots.close(), prompts.close()]));
    return { engines: slots.engines, tokenizer: loaded, prompts, hasTemplate: loaded.chatTemplate !== undefined, defaults, stopIds: stopIdsOf(defaults, loaded), options: engine.options, close };
  } catch (err) {
    await slots.close();
    throw err;
  }
}
