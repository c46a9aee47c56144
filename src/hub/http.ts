/** A failure worth retrying: a dropped connection, a stalled transfer, a 429 or a 5xx. */
export class TransientError extends Error {
  override name = 'TransientError';
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** The Hub cannot be reached at all (refused, no route, unknown host): the cached copy may stand in. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

/** An HTTP answer that retrying will not change; `errorCode` is the Hub's X-Error-Code. */
export class HttpStatusError extends Error {
  override name = 'HttpStatusError';
  constructor(readonly status: number, readonly errorCode: string | undefined) {
    super(`HTTP ${status}${errorCode ? ` (${errorCode})` : ''}`);
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici hides the system error in a chain of causes. */
function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Classifies what `fetch` or a body read threw; only call this for errors from the network. */
export function networkError(err: unknown, what: string): Error {
  const code = networkCode(err);
  if (code !== undefined && UNREACHABLE.has(code)) return new UnreachableError(code);
  return new TransientError(`${what}: ${code ?? (err as Error)?.message ?? 'connection failed'}`);
}

function retryAfter(headers: Headers): number | undefined {
  const seconds = Number(headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : undefined;
}

/** Throws the right error for a response that is not a success; `body` is cancelled so the socket is freed. */
export async function failOn(response: Response): Promise<never> {
  void response.body?.cancel().catch(() => undefined);
  const status = response.status;
  if (status === 429 || status >= 500) throw new TransientError(`HTTP ${status}`, retryAfter(response.headers));
  throw new HttpStatusError(status, response.headers.get('x-error-code') ?? undefined);
}

/**
 * An AbortController that also aborts when `parent` does. Used instead of AbortSignal.any,
 * whose combined signal Node may garbage-collect while a fetch still waits on it, so that an
 * abort never arrives and a stalled read hangs. Call `dispose` when done.
 */
export function childController(parent: AbortSignal | undefined): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  if (parent === undefined) return { controller, dispose: () => undefined };
  const forward = (): void => controller.abort(parent.reason);
  if (parent.aborted) forward();
  else parent.addEventListener('abort', forward, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', forward) };
}

/**
 * Settles with `promise`, or rejects with the signal's reason as soon as it aborts: a body read
 * does not always notice an abort that arrives while it waits on a stalled connection.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // The abandoned promise may still reject later; that must not count as unhandled.
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export interface IdleTimer {
  signal: AbortSignal;
  /** Call on every received chunk. */
  touch(): void;
  done(): void;
}

/** Aborts when nothing arrives for `ms`, or when the caller's signal aborts. */
export function idleTimer(ms: number, parent: AbortSignal | undefined): IdleTimer {
  const { controller, dispose } = childController(parent);
  const fire = (): void => controller.abort(new TransientError(`no data for ${ms / 1000} s`));
  let timer = setTimeout(fire, ms);
  return {
    signal: controller.signal,
    touch: () => {
      clearTimeout(timer);
      timer = setTimeout(fire, ms);
    },
    done: () => {
      clearTimeout(timer);
      dispose();
    },
  };
}
