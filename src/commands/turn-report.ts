import type { TurnResult } from '../runtime/chat-session.js';
import type { RanTurn } from '../runtime/worker/remote-runtime.js';

const rate = (tokens: number, ms: number): number => (ms > 0 ? (tokens * 1000) / ms : 0);

/** One line of timings, as llama-cli prints them, and the seed that reproduces the answer. */
export function statsLine(r: RanTurn): string {
  const c = r.counters;
  return `prompt ${r.promptTokens} tokens (${r.prefilled} run, ${rate(c.prefillTokens, c.prefillMs).toFixed(1)} t/s) | generated ${r.ids.length} tokens (${rate(c.decodeTokens, c.decodeMs).toFixed(1)} t/s) | stop: ${r.stopReason} | seed ${r.seed}`;
}

/** Notices a person should see after a turn, on stderr. */
export function notices(r: TurnResult, ctxSize: number): string[] {
  const out: string[] = [];
  if (r.droppedTurns > 0) out.push(`[context full: dropped the ${r.droppedTurns} oldest exchange(s) and rebuilt the cache]`);
  if (r.stopReason === 'context') out.push(`[stopped: the context of ${ctxSize} tokens is full (--ctx-size)]`);
  if (r.stopReason === 'interrupted') out.push('[interrupted]');
  return out;
}

export function jsonResult(r: RanTurn, loadMs: number): Record<string, unknown> {
  const c = r.counters;
  const s = r.sampling;
  return {
    text: r.text,
    ids: r.ids,
    stop_reason: r.stopReason,
    prompt_tokens: r.promptTokens,
    // Under the names of the flags that set them: what ran, after generation_config.json and the defaults.
    sampling: { temp: s.temperature, top_k: s.topK, top_p: s.topP, min_p: s.minP, repeat_penalty: s.repeatPenalty, repeat_last_n: s.repeatLastN },
    seed: r.seed,
    timings: {
      load_ms: Math.round(loadMs),
      prefill_tokens: c.prefillTokens,
      prefill_ms: Math.round(c.prefillMs),
      prefill_tokens_per_s: Number(rate(c.prefillTokens, c.prefillMs).toFixed(2)),
      decode_tokens: c.decodeTokens,
      decode_ms: Math.round(c.decodeMs),
      decode_tokens_per_s: Number(rate(c.decodeTokens, c.decodeMs).toFixed(2)),
    },
  };
}
