import type { ServerResponse } from 'node:http';

/** Starts a server-sent event stream: each event one `data:` line, as OpenAI's streaming endpoints send them. */
export function startEvents(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.flushHeaders();
}

export const dataEvent = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;

/** OpenAI's end of a stream. */
export const DONE_EVENT = 'data: [DONE]\n\n';
