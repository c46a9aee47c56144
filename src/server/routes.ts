import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { foldSystem, type ChatMessage } from '../runtime/chat-template.js';
import type { EngineLike } from '../runtime/engine.js';
import type { ServedModel } from '../runtime/served-model.js';
import type { WireTurnOptions } from '../runtime/worker/remote-runtime.js';
import { GemmaError } from '../util/errors.js';
import { ApiError, badRequest } from './api-error.js';
import { answer, requestTurn, type Answer } from './generation.js';
import {
  answerMeta, chatChunk, chatCompletion, modelList, modelObject, textChunk, textCompletion, usage, usageChunk, type AnswerMeta, type FinishReason, type Usage,
} from './openai-objects.js';
import { chatRequest, completionRequest, type GenerationRequest, type RequestMessage } from './request-schema.js';
import type { Scheduler } from './scheduler.js';
import { sendJson } from './responses.js';
import { DONE_EVENT, dataEvent, startEvents } from './sse.js';

/** Counts since the server started (GET /stats). */
export interface ServerStats {
  answered: number;
  /** Answers whose client went away before they ended: their generation stopped. */
  cancelled: number;
  generatedTokens: number;
}

export interface ServerContext {
  model: ServedModel;
  /** The model's name, as /v1/models and every answer give it. */
  name: string;
  scheduler: Scheduler<EngineLike>;
  /** Each request's sampling before its own fields: a fresh seed each time unless --seed is set. */
  turnDefaults: () => WireTurnOptions;
  /** Where the chat page's files are (assets/chat). */
  pageDir: string;
  stats: ServerStats;
  /** Unix seconds. */
  started: number;
}

/** One request and its response; `signal` aborts when the client goes away before the response ends. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  signal: AbortSignal;
}

export type Handler = (ctx: ServerContext, ex: Exchange, body: unknown) => Promise<void>;

/** How one endpoint writes answers: a whole one, or the pieces of a stream. */
interface AnswerFormat {
  kind: 'chatcmpl' | 'cmpl';
  chunkObject: 'chat.completion.chunk' | 'text_completion';
  whole: (meta: AnswerMeta, text: string, finish: FinishReason, u: Usage) => object;
  opening?: (meta: AnswerMeta) => object;
  piece: (meta: AnswerMeta, text: string) => object;
  closing: (meta: AnswerMeta, finish: FinishReason) => object;
}

const CHAT_FORMAT: AnswerFormat = {
  kind: 'chatcmpl', chunkObject: 'chat.completion.chunk', whole: chatCompletion,
  opening: (meta) => chatChunk(meta, { role: 'assistant', content: '' }, null),
  piece: (meta, text) => chatChunk(meta, { content: text }, null),
  closing: (meta, finish) => chatChunk(meta, {}, finish),
};

const TEXT_FORMAT: AnswerFormat = {
  kind: 'cmpl', chunkObject: 'text_completion', whole: textCompletion,
  piece: (meta, text) => textChunk(meta, text, null),
  closing: (meta, finish) => textChunk(meta, '', finish),
};

/** Streams the answer as server-sent events; the client going away stops the generation (ex.signal). */
async function streamAnswer(ex: Exchange, request: GenerationRequest, format: AnswerFormat, meta: AnswerMeta, run: (onText: (piece: string) => void) => Promise<Answer>): Promise<Answer> {
  startEvents(ex.res);
  const write = (o: object): void => void ex.res.write(dataEvent(o));
  if (format.opening !== undefined) write(format.opening(meta));
  const a = await run((piece) => write(format.piece(meta, piece)));
  if (a.cancelled) return a;
  write(format.closing(meta, a.finish));
  if (request.includeUsage) write(usageChunk(meta, format.chunkObject, usage(a.promptTokens, a.completionTokens)));
  ex.res.end(DONE_EVENT);
  return a;
}

/** Waits for a slot, answers on it (whole or streamed) and counts the answer. */
async function serveAnswer(ctx: ServerContext, ex: Exchange, request: GenerationRequest, tokens: number[], format: AnswerFormat, param: string): Promise<void> {
  const ctxSize = ctx.model.options.ctxSize;
  if (tokens.length >= ctxSize) {
    throw badRequest(`the prompt is ${tokens.length} tokens and this model's context holds ${ctxSize} (one more is needed for the answer): shorten it, or serve with a larger --ctx-size`, param, 'context_length_exceeded');
  }
  const engine = await ctx.scheduler.acquire(ex.signal);
  try {
    const turn = requestTurn(request, ctx.turnDefaults());
    const meta = answerMeta(format.kind, ctx.name);
    const run = (onText: (piece: string) => void): Promise<Answer> => answer(ctx.model, engine, tokens, turn, request.stop, onText, () => ex.signal.aborted);
    const a = request.stream ? await streamAnswer(ex, request, format, meta, run) : await run(() => undefined);
    ctx.stats.generatedTokens += a.completionTokens;
    if (a.cancelled) ctx.stats.cancelled++;
    else ctx.stats.answered++;
    if (!request.stream && !a.cancelled) sendJson(ex.res, 200, format.whole(meta, a.text, a.finish, usage(a.promptTokens, a.completionTokens)));
  } finally {
    ctx.scheduler.release(engine);
  }
}

/**
 * Gemma's template has no system role: system (and developer) messages are folded into the
 * first user message, as `gemma run --system` does; the turns must then start and end with the user.
 */
export function templateMessages(messages: RequestMessage[]): ChatMessage[] {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
  const turns = messages.filter((m): m is ChatMessage => m.role !== 'system');
  if (turns[0]?.role !== 'user') throw badRequest("'messages' must have a user message first, after any system messages", 'messages');
  if (turns.at(-1)!.role !== 'user') throw badRequest("'messages' must end with a user message, which the model answers", 'messages');
  return [{ role: 'user', content: foldSystem(system, turns[0].content) }, ...turns.slice(1)];
}

const chatCompletions: Handler = async (ctx, ex, body) => {
  const request = chatRequest(body);
  if (!ctx.model.hasTemplate) throw badRequest('this model has no chat template: use /v1/completions', 'messages');
  let tokens: number[];
  try {
    tokens = await ctx.model.prompts.chat(templateMessages(request.messages));
  } catch (err) {
    // The model's template refuses some conversations (roles that do not alternate): the client's to fix.
    if (err instanceof GemmaError) throw badRequest(err.message, 'messages');
    throw err;
  }
  await serveAnswer(ctx, ex, request, tokens, CHAT_FORMAT, 'messages');
};

const completions: Handler = async (ctx, ex, body) => {
  const request = completionRequest(body);
  await serveAnswer(ctx, ex, request, await ctx.model.prompts.completion(request.prompt), TEXT_FORMAT, 'prompt');
};

/** One of the chat page's fixed files (no directory is served); a 404 error while the page is not installed. */
const pageFile = (file: string, type: string): Handler => async (ctx, ex) => {
  let content: Buffer;
  try {
    content = await readFile(join(ctx.pageDir, file));
  } catch {
    throw new ApiError(404, `the chat page's ${file} is not installed with this gemma`, 'invalid_request_error', null, 'not_found');
  }
  ex.res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(content.length) });
  ex.res.end(content);
};

export interface Route {
  methods: Partial<Record<'GET' | 'POST', Handler>>;
  /** Served without the API key: the page and the health check. */
  open?: true;
}

/** A path segment with its %-escapes decoded; left as it is where they are malformed (it then names no model). */
function decodedPath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `GET /v1/models/{id}`: the served model, or 404 for any other id (OpenAI's `model_not_found`). */
export const MODEL_PATH = '/v1/models/';
export const MODEL_ROUTE: Route = {
  methods: {
    GET: async (ctx, ex) => {
      const id = decodedPath(new URL(ex.req.url ?? '/', 'http://localhost').pathname.slice(MODEL_PATH.length));
      if (id !== ctx.name) throw new ApiError(404, `this server serves ${ctx.name}, not ${id}`, 'invalid_request_error', 'model', 'model_not_found');
      sendJson(ex.res, 200, modelObject(ctx.name, ctx.started));
    },
  },
};

export const ROUTES: Record<string, Route> = {
  '/': { open: true, methods: { GET: pageFile('index.html', 'text/html; charset=utf-8') } },
  '/chat.js': { open: true, methods: { GET: pageFile('chat.js', 'text/javascript; charset=utf-8') } },
  '/chat.css': { open: true, methods: { GET: pageFile('chat.css', 'text/css; charset=utf-8') } },
  '/health': { open: true, methods: { GET: async (_ctx, ex) => sendJson(ex.res, 200, { status: 'ok' }) } },
  '/stats': {
    open: true,
    methods: { GET: async (ctx, ex) => sendJson(ex.res, 200, { slots: ctx.model.engines.length, busy: ctx.scheduler.busy, queued: ctx.scheduler.queued, answered: ctx.stats.answered, cancelled: ctx.stats.cancelled, generated_tokens: ctx.stats.generatedTokens }) },
  },
  '/v1/models': { methods: { GET: async (ctx, ex) => sendJson(ex.res, 200, modelList(ctx.name, ctx.started)) } },
  '/v1/chat/completions': { methods: { POST: chatCompletions } },
  '/v1/completions': { methods: { POST: completions } },
};
