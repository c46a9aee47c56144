import type { StagePlan } from '../../onnx/stages.js';
import type { ExecutionProvider } from '../../quantize/precision.js';
import type { ContextFit } from '../memory-plan.js';
import type { GenerationDefaults } from '../generation-config.js';
import type { DecodeInput } from '../loop-feeds.js';
import type { StageInput, StageOutput } from '../stage.js';

/** How a worker loads its stage: the session's threads and EP, whether it is the decode loop's graph, and the prompt chunk (which sizes the sliding layers' rings). */
export interface StageLoad {
  threads: number;
  ep: ExecutionProvider;
  decodeLoop: boolean;
  prefillChunk: number;
}

/*
 * Each stage of the engine runs in its own worker thread (onnxruntime's session load and
 * runs block their thread): the stages' sessions load in parallel, and the tokenizer, chat
 * and sampling stay on the main thread, which loads the tokenizer meanwhile. A worker's
 * session serves several KV caches (`slot`: gemma serve's conversations), one run at a time.
 */
export type Request =
  | ({ type: 'open'; dir: string; stage: number } & StageLoad)
  | { type: 'run'; slot: number; input: StageInput }
  | { type: 'decode'; slot: number; input: DecodeInput }
  /** Answered by nothing: messages are handled in order, so the next run sees it. */
  | { type: 'truncate'; slot: number; length: number };

export type Response =
  | { type: 'opened'; plan: StagePlan }
  | { type: 'ran'; output: StageOutput }
  | { type: 'decoded'; tokens: number[] }
  | { type: 'error'; message: string; expected: boolean };

/** What `gemma run` shows and reports about the loaded model. */
export interface RuntimeInfo {
  ctxSize: number;
  /** Set when the context or the prompt chunk was lowered to fit the memory available. */
  contextFit?: ContextFit;
  defaults: GenerationDefaults;
  hasTemplate: boolean;
  source: string;
  variant: string;
  loadMs: number;
}
