import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { EngineLike } from '../runtime/engine.js';
import type { ServedModel } from '../runtime/served-model.js';
import type { WireTurnOptions } from '../runtime/worker/remote-runtime.js';
import { ApiError } from './api-error.js';
import { MAX_BODY_BYTES, parseJson } from './request-schema.js';
import { asApiError, sendError } from './responses.js';
import { MODEL_PATH, MODEL_ROUTE, ROUTES, type Exchange, type Route, type ServerContext } from './routes.js';
import { Scheduler } from './scheduler.js';

export interface ServerOptions {
  /** The model's name in /v1/models and in answers. */
  name: string;
  /** Required as `Authorization: Bearer <key>` on /v1/* when set. */
  apiKey?: string;
  /** Requests that may wait for a slot; more are refused with 503. */
  maxQueue: number;
  turnDefaults: () => WireTurnOptions;
  pageDir: string;
  /** One line per request (--verbose); the server itself never prints. */
  log?: (line: string) => void;
}

/** Any web page may call the API, as with OpenAI's: the API key, not the origin, is what guards it. */
const CORS = { 'Access-Control-Allow-Origin': '*' };
const PREFLIGHT = { ...CORS, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Authorization, Content-Type', 'Access-Control-Max-Age': '86400' };

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compared as digests in constant time: neither the key's length nor its characters show in the timing. */
function authorize(req: IncomingMessage, apiKey: string | undefined): void {
  if (apiKey === undefined) return;
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length).trim() : undefined;
  if (given === undefined) throw new ApiError(401, 'this server needs an API key: send it as Authorization: Bearer <key>', 'invalid_request_error', null, 'invalid_api_key');
  if (!timingSafeEqual(digest(given), digest(apiKey))) throw new ApiError(401, 'the API key is not this server\'s', 'invalid_request_error', null, 'invalid_api_key');
}

const tooLarge = (): ApiError => new ApiError(413, `the request body exceeds ${MAX_BODY_BYTES} bytes`, 'invalid_request_error', null, 'request_too_large');

/** The body as text, refused (413) as soon as it exceeds MAX_BODY_BYTES, before reading the rest. */
async function readBody(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The route of a fixed path, or of one model's path (`/v1/models/{id}`). */
function findRoute(path: string): Route | undefined {
  if (Object.hasOwn(ROUTES, path)) return ROUTES[path];
  return path.startsWith(MODEL_PATH) ? MODEL_ROUTE : undefined;
}

function routeOf(req: IncomingMessage): { route: Route; method: 'GET' | 'POST' } {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const route = findRoute(path);
  if (route === undefined) throw new ApiError(404, `no such endpoint: ${req.method} ${path}`, 'invalid_request_error', null, 'not_found');
  const method = req.method === 'GET' || req.method === 'POST' ? req.method : undefined;
  if (method === undefined || route.methods[method] === undefined) {
    const allowed = Object.keys(route.methods);
    throw new ApiError(405, `${path} takes ${allowed.join(' or ')}, not ${req.method}`, 'invalid_request_error', null, 'method_not_allowed', { Allow: allowed.join(', ') });
  }
  return { route, method };
}

async function handle(ctx: ServerContext, apiKey: string | undefined, ex: Exchange): Promise<void> {
  const { route, method } = routeOf(ex.req);
  if (route.open !== true) authorize(ex.req, apiKey);
  const body = method === 'POST' ? parseJson(await readBody(ex.req)) : undefined;
  await route.methods[method]!(ctx, ex, body);
}

function exchange(req: IncomingMessage, res: ServerResponse): Exchange {
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort(new Error('the client closed the connection'));
  });
  return { req, res, signal: gone.signal };
}

/** The OpenAI-compatible server over a loaded model; it never prints or exits (docs/serve.md). */
export function createApiServer(model: ServedModel, options: ServerOptions): Server {
  const ctx: ServerContext = {
    model, name: options.name, scheduler: new Scheduler<EngineLike>(model.engines, options.maxQueue), turnDefaults: options.turnDefaults,
    pageDir: options.pageDir, stats: { answered: 0, cancelled: 0, generatedTokens: 0 }, started: Math.floor(Date.now() / 1000),
  };
  return createServer((req, res) => {
    const started = performance.now();
    if (req.method === 'OPTIONS') {
      res.writeHead(204, PREFLIGHT).end();
      return;
    }
    for (const [name, value] of Object.entries(CORS)) res.setHeader(name, value);
    const ex = exchange(req, res);
    handle(ctx, options.apiKey, ex)
      .catch((err: unknown) => {
        const error = asApiError(err);
        // A refused body is not read to its end: the connection closes after the answer.
        sendError(res, error, { ...error.headers, ...(error.status === 413 ? { Connection: 'close' } : {}) });
      })
      .finally(() => options.log?.(`${req.method} ${req.url} ${ex.signal.aborted ? 'closed by the client' : res.statusCode} ${Math.round(performance.now() - started)} ms`));
  });
}
