import { badRequest } from './api-error.js';

/**
 * The largest request body read: a chat's whole history is a few tens of kB at Gemma 2's 8192-token context, so a
 * megabyte is far more than any prompt that fits, and bounds what one request makes the server hold.
 */
export const MAX_BODY_BYTES = 1 << 20;

/** A field's problem in words after its name ("must be a number from 0 to 2"), or undefined when it holds. */
type Check = (value: unknown) => string | undefined;

interface Field {
  check: Check;
  required?: boolean;
}

type Schema = Record<string, Field>;

/**
 * The most messages a chat may have. Rendering a chat apart from its messages' text costs one template render per
 * message, each over the whole chat (src/runtime/rendered-chat.ts), so the time grows with the square of their
 * number: 0.4 s for 100 and 2.3 s for 400 on this VM, while a whole 8192-token context rarely holds 200.
 */
export const MAX_MESSAGES = 512;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const number = (min: number, max: number): Check => (v) => (isNumber(v) && v >= min && v <= max ? undefined : `must be a number from ${min} to ${max}`);
const integer = (min: number, max: number): Check => (v) => (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : `must be an integer from ${min} to ${max}`);
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const string: Check = (v) => (typeof v === 'string' ? undefined : 'must be a string');
const exactly = (value: unknown, why: string): Check => (v) => (v === value ? undefined : why);
/** Fields of OpenAI's API this server does not implement: accepted only at the value that asks nothing of it. */
const unsupported = (what: string, off: (v: unknown) => boolean): Check => (v) => (off(v) ? undefined : `is not supported: this server has no ${what}`);

const MAX_STOP_STRINGS = 4;
const stop: Check = (v) => {
  const list = typeof v === 'string' ? [v] : v;
  const ok = Array.isArray(list) && list.length <= MAX_STOP_STRINGS && list.every((s) => typeof s === 'string' && s !== '');
  return ok ? undefined : `must be a non-empty string or a list of up to ${MAX_STOP_STRINGS} of them`;
};

const streamOptions: Check = (v) => (isObject(v) && (v.include_usage === undefined || typeof v.include_usage === 'boolean') ? undefined : 'must be an object whose include_usage is true or false');

/** What both endpoints take; fields not listed (user, metadata, store …) are accepted and ignored. */
const SAMPLING: Schema = {
  model: { check: string },
  max_tokens: { check: integer(1, 2 ** 31 - 1) },
  temperature: { check: number(0, 2) },
  top_p: { check: number(0, 1) },
  // Any 64-bit seed a client sends is taken modulo 2^32, the sampler's seed space.
  seed: { check: integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) },
  stop: { check: stop },
  n: { check: exactly(1, 'must be 1: this server generates one choice per request') },
  stream: { check: boolean },
  stream_options: { check: streamOptions },
  // Accepted, for clients that always send them, and not applied (docs/serve.md).
  presence_penalty: { check: number(-2, 2) },
  frequency_penalty: { check: number(-2, 2) },
};

const CHAT: Schema = {
  ...SAMPLING,
  messages: { check: (v) => (Array.isArray(v) && v.length > 0 && v.length <= MAX_MESSAGES ? undefined : `must be a list of 1 to ${MAX_MESSAGES} messages`), required: true },
  max_completion_tokens: { check: integer(1, 2 ** 31 - 1) },
  logprobs: { check: unsupported('log probabilities', (v) => v === false) },
  top_logprobs: { check: unsupported('log probabilities', (v) => v === 0) },
  tools: { check: unsupported('tool calls', (v) => Array.isArray(v) && v.length === 0) },
  tool_choice: { check: unsupported('tool calls', (v) => v === 'none') },
  response_format: { check: unsupported('structured output', (v) => isObject(v) && v.type === 'text') },
};

const COMPLETION: Schema = {
  ...SAMPLING,
  prompt: { check: (v) => (typeof v === 'string' || (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') ? undefined : 'must be a string (or a list of one string)'), required: true },
  echo: { check: unsupported('echo', (v) => v === false) },
  suffix: { check: unsupported('suffix (insertion)', (v) => v === '') },
  best_of: { check: exactly(1, 'must be 1: this server generates one choice per request') },
  logprobs: { check: unsupported('log probabilities', (v) => v === 0) },
};

/** The body's fields checked against `schema`, in its order; null counts as left out, as in OpenAI's API. */
function validate(body: unknown, schema: Schema): Record<string, unknown> {
  if (!isObject(body)) throw badRequest('the request body must be a JSON object');
  for (const [name, field] of Object.entries(schema)) {
    const value = body[name];
    if (value === undefined || value === null) {
      if (field.required === true) throw badRequest(`'${name}' is required`, name);
      continue;
    }
    const problem = field.check(value);
    if (problem !== undefined) throw badRequest(`'${name}' ${problem}, found ${JSON.stringify(value).slice(0, 80)}`, name);
  }
  return body;
}

/** What generation takes from either endpoint, validated. */
export interface GenerationRequest {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

export type Role = 'system' | 'user' | 'assistant';

export interface RequestMessage {
  role: Role;
  content: string;
}

export interface ChatRequest extends GenerationRequest {
  messages: RequestMessage[];
}

export interface CompletionRequest extends GenerationRequest {
  prompt: string;
}

const SEEDS = 2 ** 32;

function generation(b: Record<string, unknown>, maxTokens: unknown): GenerationRequest {
  const stops = b.stop ?? [];
  return {
    ...(maxTokens != null ? { maxTokens: maxTokens as number } : {}),
    ...(b.temperature != null ? { temperature: b.temperature as number } : {}),
    ...(b.top_p != null ? { topP: b.top_p as number } : {}),
    ...(b.seed != null ? { seed: (((b.seed as number) % SEEDS) + SEEDS) % SEEDS } : {}),
    stop: typeof stops === 'string' ? [stops] : (stops as string[]),
    stream: b.stream === true,
    includeUsage: isObject(b.stream_options) && b.stream_options.include_usage === true,
  };
}

/** OpenAI's developer role is its system role under another name. */
const ROLES: Record<string, Role> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

/** A message's text: a string, or a list of text parts, joined. */
function contentOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  const isTextPart = (p: unknown): p is { type: 'text'; text: string } => isObject(p) && p.type === 'text' && typeof p.text === 'string';
  if (Array.isArray(content) && content.every(isTextPart)) return content.map((p) => p.text).join('');
  throw badRequest(`'${param}' must be a string or a list of text parts ({"type": "text", "text": …}): this model reads text only`, param);
}

function message(m: unknown, i: number): RequestMessage {
  const at = `messages[${i}]`;
  if (!isObject(m)) throw badRequest(`'${at}' must be an object with a role and a content`, at);
  const role = typeof m.role === 'string' ? ROLES[m.role] : undefined;
  if (role === undefined) throw badRequest(`'${at}.role' must be one of system, developer, user, assistant, found ${JSON.stringify(m.role)}`, `${at}.role`);
  if (m.content === undefined || m.content === null) throw badRequest(`'${at}.content' is required`, `${at}.content`);
  return { role, content: contentOf(m.content, `${at}.content`) };
}

export function chatRequest(body: unknown): ChatRequest {
  const b = validate(body, CHAT);
  return { ...generation(b, b.max_completion_tokens ?? b.max_tokens), messages: (b.messages as unknown[]).map(message) };
}

export function completionRequest(body: unknown): CompletionRequest {
  const b = validate(body, COMPLETION);
  return { ...generation(b, b.max_tokens), prompt: typeof b.prompt === 'string' ? b.prompt : (b.prompt as string[])[0]! };
}

/** The body as JSON, or the 400 that names where it stops parsing. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}
