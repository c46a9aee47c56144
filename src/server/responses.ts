import type { ServerResponse } from 'node:http';
import { ApiError } from './api-error.js';
import { dataEvent } from './sse.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Anything not an ApiError is the server's own failure: a 500 naming it, never a client's mistake. */
export const asApiError = (err: unknown): ApiError =>
  err instanceof ApiError ? err : new ApiError(500, `the server failed: ${(err as Error)?.message ?? String(err)}`, 'server_error');

/** The error as a JSON response, or as a last event when a stream has begun. */
export function sendError(res: ServerResponse, err: ApiError, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) res.end(dataEvent(err.body()));
  else sendJson(res, err.status, err.body(), headers);
}
