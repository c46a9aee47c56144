import type { EngineLike } from './engine.js';
import { decodeLoop, stepByStep } from './next-tokens.js';
import { Sampler, type SamplingParams } from './sampler.js';
import { TextStream, type StreamDecoder } from './text-stream.js';

export type StopReason = 'eos' | 'max-tokens' | 'context' | 'interrupted';

export interface GenerateOptions {
  sampling: SamplingParams;
  seed: number;
  /** -1: until an end token or the context is full. */
  maxTokens: number;
  stopIds: ReadonlySet<number>;
  /** Bench mode: keep generating through end tokens. */
  ignoreEos?: boolean;
  onText?: (piece: string) => void;
  /** Polled between graph runs (Ctrl-C): between tokens, or between runs of the decode loop. */
  interrupted?: () => boolean;
}

export interface GenerateResult {
  ids: number[];
  text: string;
  stopReason: StopReason;
}

/**
 * Samples tokens after the engine's current cache, given the logits of its last token.
 * End tokens are never fed, printed or returned. The last sampled token is not fed
 * either (nothing needs its logits), so the cache ends one token short of `ids`.
 */
export async function generate(
  engine: EngineLike, logits: Float32Array, tokenizer: StreamDecoder, o: GenerateOptions,
): Promise<GenerateResult> {
  const sampler = new Sampler(o.sampling, o.seed);
  const stream = new TextStream(tokenizer);
  const ids: number[] = [];
  let text = '';
  const emit = (piece: string): void => {
    text += piece;
    if (piece !== '') o.onText?.(piece);
  };
  const next = engine.options.decodeSteps > 1 ? decodeLoop(engine, logits, sampler, o) : stepByStep(engine, logits, sampler);
  for (;;) {
    if (o.interrupted?.()) return finish('interrupted');
    // A run of the decode loop returns several tokens; it never runs past -n or the context, so those are checked after its last.
    for (const id of await next(ids.length)) {
      if (o.stopIds.has(id) && !o.ignoreEos) return finish('eos');
      ids.push(id);
      emit(stream.push(id));
    }
    if (ids.length === o.maxTokens) return finish('max-tokens');
    // A full cache cannot take the last token, so it ends the answer: C - P + 1 tokens after a prompt of P (docs/runtime.md).
    if (engine.tokens.length + 1 > engine.options.ctxSize) return finish('context');
  }

  function finish(stopReason: StopReason): GenerateResult {
    emit(stream.flush());
    return { ids, text, stopReason };
  }
}
