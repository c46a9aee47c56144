import type { ExecutionProvider } from '../quantize/precision.js';
import type { SpecialStrings } from '../tokenizer/gemma-bpe.js';
import { GemmaError } from '../util/errors.js';
import { ChatSession } from './chat-session.js';
import { Engine, type EngineLike, type EngineOptions } from './engine.js';
import { fitContext } from './memory-plan.js';
import { readGenerationDefaults, type GenerationDefaults } from './generation-config.js';
import { checkDecodeLoop, loadStage, readExport, type ExportInfo } from './model-session.js';
import { cachePlanOf } from './kv-cache.js';
import { Stage } from './stage.js';
import { availableMemory } from './system-memory.js';
import { loadTokenizer, type GemmaTokenizer } from './tokenizer.js';

/** What it takes to load a model into an engine. */
export interface EngineLoadOptions {
  threads: number;
  /** Default: the EP the export was built for. */
  ep?: ExecutionProvider;
  /** Absent or 0 (llama.cpp's `-c 0`): the model's max_position_embeddings. */
  ctxSize?: number;
  prefillChunk?: number;
  /** Most decode steps per graph run, in the export's decode loop; 1 (the default) runs one step per run. */
  decodeSteps?: number;
  /** KV caches the engine's sessions serve, one per conversation served at once (gemma serve --parallel); default 1. */
  caches?: number;
  /** The caller reads the logits of every position of a prompt chunk (perplexity): they count in the memory plan. */
  allLogits?: boolean;
  /** onnxruntime's per-node profiler for every stage, written to `<prefix>-stage<i>_<time>.json` at close (bench/decode-profile.ts). */
  profilePrefix?: string;
}

/** What the user writes: the system text, and how special-token strings in it and in the messages are read (default: as text). */
export interface UserTextOptions {
  system?: string;
  specials?: SpecialStrings;
}

export interface RuntimeOptions extends EngineLoadOptions, UserTextOptions {}

/** The text side of a runtime: tokenizer, generation defaults and the chat session over an engine. */
export interface ChatRuntime {
  engine: EngineLike;
  tokenizer: GemmaTokenizer;
  chat: ChatSession;
  defaults: GenerationDefaults;
  /** generation_config's eos ids, plus <end_of_turn> where the vocabulary has it (chat turns end there). */
  stopIds: Set<number>;
}

/** Everything `gemma eval` and the tests need, loaded in this thread from one export folder. */
export interface Runtime extends ChatRuntime {
  engine: Engine;
}

export const DEFAULT_PREFILL_CHUNK = 512;

/** Decided before any session exists: a context that cannot fit in `available` memory is refused here (docs/runtime.md, "Context policy"). */
export function engineOptions(info: ExportInfo, options: EngineLoadOptions, available = availableMemory()): EngineOptions {
  const max = info.spec.config.max_position_embeddings;
  const asked = options.ctxSize || undefined;
  if (asked !== undefined && asked > max) throw new GemmaError(`--ctx-size ${asked} exceeds the model's max_position_embeddings ${max}`);
  const decodeSteps = options.decodeSteps ?? 1;
  checkDecodeLoop(info, decodeSteps);
  const prefillChunk = options.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
  const plan = {
    config: info.spec.config, slidingLayers: info.spec.isSliding.filter(Boolean).length, weights: info.manifest.weights, sizes: info.manifest.sizes,
    ep: info.ep, prefillChunk, allLogits: options.allLogits === true, caches: options.caches ?? 1,
  };
  const fitted = fitContext(plan, asked, max, available);
  return { ctxSize: fitted.ctxSize, prefillChunk: fitted.prefillChunk, decodeSteps, ...(fitted.fit !== undefined ? { contextFit: fitted.fit } : {}) };
}

/** Loads the export's stages one after the other into an Engine in this thread. */
export async function loadEngine(dir: string, options: EngineLoadOptions): Promise<Engine> {
  const info = await readExport(dir, options.ep);
  const engineOpts = engineOptions(info, options);
  const stages: Stage[] = [];
  try {
    for (const [i, plan] of info.manifest.stages.entries()) {
      const profilePrefix = options.profilePrefix !== undefined ? `${options.profilePrefix}-stage${i}` : undefined;
      const { session, loop } = await loadStage(info, i, { threads: options.threads, decodeLoop: engineOpts.decodeSteps > 1, ...(profilePrefix !== undefined ? { profilePrefix } : {}) });
      stages.push(new Stage(plan, session, info.spec, cachePlanOf(info.manifest, info.spec, engineOpts.prefillChunk), profilePrefix !== undefined, loop));
    }
  } catch (err) {
    await Promise.all(stages.map((s) => s.close()));
    throw err;
  }
  return new Engine(info.manifest, info.spec, stages, engineOpts);
}

/** generation_config's eos ids, plus <end_of_turn> where the vocabulary has it (chat turns end there). */
export function stopIdsOf(defaults: GenerationDefaults, tokenizer: GemmaTokenizer): Set<number> {
  const endOfTurn = tokenizer.idOf('<end_of_turn>');
  return new Set([...defaults.eosTokenIds, ...(endOfTurn !== undefined ? [endOfTurn] : [])]);
}

export async function chatRuntime(dir: string, engine: EngineLike, tokenizer: GemmaTokenizer, user: UserTextOptions): Promise<ChatRuntime> {
  const defaults = await readGenerationDefaults(dir, engine.spec.config);
  const stopIds = stopIdsOf(defaults, tokenizer);
  return { engine, tokenizer, defaults, stopIds, chat: new ChatSession(engine, tokenizer, stopIds, user.system, user.specials ?? 'text') };
}

export async function openRuntime(dir: string, options: RuntimeOptions): Promise<Runtime> {
  const engine = await loadEngine(dir, options);
  try {
    const tokenizer = await loadTokenizer(dir);
    return { ...(await chatRuntime(dir, engine, tokenizer, options)), engine };
  } catch (err) {
    await engine.close();
    throw err;
  }
}
