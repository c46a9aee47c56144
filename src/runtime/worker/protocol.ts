import type { TurnOptions, TurnResult } from '../chat-session.js';
import type { GenerationDefaults } from '../generation-config.js';
import type { RuntimeOptions } from '../runtime.js';

/** Turn options that can cross to the worker (callbacks stay on the main thread). */
export type WireTurnOptions = Omit<TurnOptions, 'onText' | 'interrupted'>;

export type Request =
  | { type: 'open'; dir: string; options: RuntimeOptions }
  | { type: 'chat'; text: string; turn: WireTurnOptions }
  | { type: 'complete'; text: string; turn: WireTurnOptions }
  | { type: 'reset' };

export interface RuntimeInfo {
  ctxSize: number;
  defaults: GenerationDefaults;
  hasTemplate: boolean;
  source: string;
  variant: string;
  loadMs: number;
}

export type Response =
  | { type: 'opened'; info: RuntimeInfo }
  | { type: 'text'; piece: string }
  | { type: 'done'; result: TurnResult }
  | { type: 'reset' }
  | { type: 'error'; message: string; expected: boolean };

/** Index 0 of the shared Int32Array: 1 while the current answer should stop. */
export const INTERRUPT = 0;
