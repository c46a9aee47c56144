import type { ModelSpec } from '../../checkpoint/config.js';
import type { Manifest } from '../../quantize/manifest.js';
import type { EngineCounters, EngineOptions } from '../engine.js';
import type { GenerationDefaults } from '../generation-config.js';
import type { EngineLoadOptions } from '../runtime.js';

/*
 * The engine runs in a worker thread (onnxruntime's session load and runs block their
 * thread); tokenizer, chat and sampling stay on the main thread, which loads the
 * tokenizer while the worker loads the session.
 */
export type Request =
  | { type: 'open'; dir: string; options: EngineLoadOptions }
  | { type: 'feed'; ids: number[]; allPositions: boolean }
  /** Answered by nothing: messages are handled in order, so the next feed sees it. */
  | { type: 'rollback'; length: number };

export interface OpenedEngine {
  spec: ModelSpec;
  options: EngineOptions;
  manifest: Manifest;
}

export type Response =
  | { type: 'opened'; engine: OpenedEngine }
  | { type: 'fed'; logits: Float32Array[]; counters: EngineCounters }
  | { type: 'error'; message: string; expected: boolean };

/** What `gemma run` shows and reports about the loaded model. */
export interface RuntimeInfo {
  ctxSize: number;
  defaults: GenerationDefaults;
  hasTemplate: boolean;
  source: string;
  variant: string;
  loadMs: number;
}
