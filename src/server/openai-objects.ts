import { randomUUID } from 'node:crypto';

/** Why an answer ended, as OpenAI says it: an end token or a stop string, or -n / max_tokens / the context. */
export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What every object of one answer shares: its id, creation time (Unix seconds) and the model. */
export interface AnswerMeta {
  id: string;
  created: number;
  model: string;
}

export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

export function answerMeta(kind: 'chatcmpl' | 'cmpl', model: string): AnswerMeta {
  return { id: `${kind}-${randomUUID().replaceAll('-', '')}`, created: Math.floor(Date.now() / 1000), model };
}

export function chatCompletion(meta: AnswerMeta, text: string, finish: FinishReason, u: Usage): object {
  return {
    ...meta, object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: finish, logprobs: null }],
    usage: u,
  };
}

/** A streamed piece: `delta` is the role first, then content; the last chunk has an empty delta and the finish reason. */
export function chatChunk(meta: AnswerMeta, delta: { role?: 'assistant'; content?: string }, finish: FinishReason | null): object {
  return { ...meta, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] };
}

export function textCompletion(meta: AnswerMeta, text: string, finish: FinishReason, u: Usage): object {
  return { ...meta, object: 'text_completion', choices: [{ index: 0, text, finish_reason: finish, logprobs: null }], usage: u };
}

export function textChunk(meta: AnswerMeta, text: string, finish: FinishReason | null): object {
  return { ...meta, object: 'text_completion', choices: [{ index: 0, text, finish_reason: finish, logprobs: null }] };
}

/** stream_options.include_usage: one chunk after the last, with no choices and the usage. */
export function usageChunk(meta: AnswerMeta, object: 'chat.completion.chunk' | 'text_completion', u: Usage): object {
  return { ...meta, object, choices: [], usage: u };
}

export const modelObject = (id: string, created: number): object => ({ id, object: 'model', created, owned_by: 'gemma' });

export function modelList(id: string, created: number): object {
  return { object: 'list', data: [modelObject(id, created)] };
}
