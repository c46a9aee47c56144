import { runPrompt } from '../runtime/chat-session.js';
import type { EngineLike } from '../runtime/engine.js';
import type { ServedModel } from '../runtime/served-model.js';
import type { WireTurnOptions } from '../runtime/worker/remote-runtime.js';
import type { FinishReason } from './openai-objects.js';
import type { GenerationRequest } from './request-schema.js';
import { StopText } from './stop-text.js';

export interface Answer {
  text: string;
  finish: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** The client went away before the answer ended. */
  cancelled: boolean;
}

/** The request's sampling and length over the server's defaults (the command line's, then the model's). */
export function requestTurn(request: GenerationRequest, defaults: WireTurnOptions): WireTurnOptions {
  const { temperature, topP, seed, maxTokens } = request;
  return {
    sampling: { ...defaults.sampling, ...(temperature !== undefined ? { temperature } : {}), ...(topP !== undefined ? { topP } : {}) },
    seed: seed ?? defaults.seed,
    maxTokens: maxTokens ?? defaults.maxTokens,
  };
}

/**
 * Answers the prompt `tokens` on one slot's engine. `onText` gets the text as it may be sent
 * (cut before a stop string); `closed` (the client went away) is polled between graph runs.
 */
export async function answer(
  model: ServedModel, engine: EngineLike, tokens: number[], turn: WireTurnOptions, stops: readonly string[],
  onText: (piece: string) => void, closed: () => boolean,
): Promise<Answer> {
  const stop = new StopText(stops);
  let text = '';
  const send = (piece: string): void => {
    text += piece;
    if (piece !== '') onText(piece);
  };
  const result = await runPrompt(engine, model.tokenizer, model.stopIds, tokens, {
    ...turn, onText: (piece) => send(stop.push(piece)), interrupted: () => closed() || stop.stopped,
  });
  send(stop.flush());
  const ended = stop.stopped || result.stopReason === 'eos';
  return { text, finish: ended ? 'stop' : 'length', promptTokens: tokens.length, completionTokens: result.ids.length, cancelled: result.stopReason === 'interrupted' && !stop.stopped };
}
