import type { ExecutionProvider } from '../quantize/precision.js';
import { GemmaError } from '../util/errors.js';
import { ChatSession } from './chat-session.js';
import { Engine } from './engine.js';
import { readGenerationDefaults, type GenerationDefaults } from './generation-config.js';
import { loadModel, type LoadedModel } from './model-session.js';
import { loadTokenizer, type GemmaTokenizer } from './tokenizer.js';

export interface RuntimeOptions {
  threads: number;
  /** Default: the EP the export was built for. */
  ep?: ExecutionProvider;
  /** Default: the model's max_position_embeddings. */
  ctxSize?: number;
  prefillChunk?: number;
  system?: string;
}

/** Everything `gemma run` and `gemma eval` need, loaded from one export folder. */
export interface Runtime {
  model: LoadedModel;
  engine: Engine;
  tokenizer: GemmaTokenizer;
  chat: ChatSession;
  defaults: GenerationDefaults;
  /** generation_config's eos ids, plus <end_of_turn> where the vocabulary has it (chat turns end there). */
  stopIds: Set<number>;
}

export const DEFAULT_PREFILL_CHUNK = 512;

export async function openRuntime(dir: string, options: RuntimeOptions): Promise<Runtime> {
  const model = await loadModel(dir, { threads: options.threads, ...(options.ep !== undefined ? { ep: options.ep } : {}) });
  const tokenizer = await loadTokenizer(dir);
  const max = model.spec.config.max_position_embeddings;
  const ctxSize = options.ctxSize ?? max;
  if (ctxSize > max) throw new GemmaError(`--ctx-size ${ctxSize} exceeds the model's max_position_embeddings ${max}`);
  const engine = new Engine(model, { ctxSize, prefillChunk: options.prefillChunk ?? DEFAULT_PREFILL_CHUNK });
  const defaults = await readGenerationDefaults(dir, model.spec.config.eos_token_id);
  const endOfTurn = tokenizer.idOf('<end_of_turn>');
  const stopIds = new Set([...defaults.eosTokenIds, ...(endOfTurn !== undefined ? [endOfTurn] : [])]);
  return { model, engine, tokenizer, defaults, stopIds, chat: new ChatSession(engine, tokenizer, stopIds, options.system) };
}
