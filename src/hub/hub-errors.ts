import { GemmaError } from '../util/errors.js';
import { HttpStatusError, TransientError, UnreachableError } from './http.js';
import type { HubToken } from './token.js';

/** What a message about a failed request needs to know; never the token's value. */
export interface ErrorContext {
  endpoint: string;
  repo: string;
  revision: string;
  token: HubToken | undefined;
  /** From the model info, when it was fetched. */
  gated?: boolean;
}

/**
 * The request that failed: a Hub API call (named, e.g. "the file list"), or one file's transfer,
 * which is resumable when the next pull will continue the bytes it kept (LFS files only).
 */
export type FailedRequest = { api: string } | { file: string; resumable: boolean };

const LOGIN = 'pass --token, set HF_TOKEN, or log in with huggingface-cli login';

function gatedMessage(status: number, ctx: ErrorContext): string {
  const page = `${ctx.endpoint}/${ctx.repo}`;
  if (ctx.token === undefined) return `${ctx.repo} is a gated model: accept its license at ${page}, then ${LOGIN} with a token of that same account`;
  return `${ctx.repo} is a gated model and the token from ${ctx.token.source} has no access to it (HTTP ${status}): accept the license at ${page} while logged in with the account that token belongs to`;
}

const fileOf = (request: FailedRequest): string | undefined => ('file' in request ? request.file : undefined);

function notFound(errorCode: string | undefined, ctx: ErrorContext, file: string | undefined): string {
  if (errorCode === 'RevisionNotFound') return `revision ${JSON.stringify(ctx.revision)} not found in ${ctx.repo}`;
  if (errorCode === 'EntryNotFound' && file !== undefined) return `${file} is listed in ${ctx.repo} but the Hub cannot serve it (404)`;
  const access = ctx.token === undefined ? `, or it is private (${LOGIN})` : `, or the token from ${ctx.token.source} has no access to it`;
  return `${ctx.repo} not found on ${ctx.endpoint}${access}`;
}

/** One line a user can act on for an HTTP failure. */
export function statusMessage(err: HttpStatusError, ctx: ErrorContext, request: FailedRequest): string {
  const { status, errorCode } = err;
  if (errorCode === 'GatedRepo' || ((status === 401 || status === 403) && ctx.gated === true)) return gatedMessage(status, ctx);
  if (status === 401 && ctx.token !== undefined) return `the Hub rejected the token from ${ctx.token.source} (HTTP 401): it is invalid or expired`;
  if (status === 401 || status === 404) return notFound(errorCode, ctx, fileOf(request));
  if (status === 403) return `access to ${ctx.repo} is forbidden (HTTP 403)${ctx.token ? ` for the token from ${ctx.token.source}` : `: ${LOGIN}`}`;
  const what = 'api' in request ? `the request for ${request.api} of ${ctx.repo}` : request.file;
  return `the Hub answered HTTP ${status}${errorCode ? ` (${errorCode})` : ''} for ${what}`;
}

/** Retries did not help: only a transfer that kept some bytes is resumed by running the command again. */
function transientMessage(err: TransientError, ctx: ErrorContext, request: FailedRequest): string {
  if ('api' in request) return `the Hub at ${ctx.endpoint} kept failing (${err.message}) on the request for ${request.api} of ${ctx.repo}: it may be down or overloaded; try again later`;
  if (request.resumable) return `${request.file}: the transfer kept failing (${err.message}); the bytes received are kept: run the same command again to resume`;
  return `${request.file}: the download kept failing (${err.message}); try again later`;
}

/** Turns transport and HTTP failures into GemmaErrors; anything else (a bug, an abort) is returned as is. */
export function hubError(err: unknown, ctx: ErrorContext, request: FailedRequest): unknown {
  if (err instanceof HttpStatusError) return new GemmaError(statusMessage(err, ctx, request));
  if (err instanceof UnreachableError) return new GemmaError(`cannot reach the Hub at ${ctx.endpoint} (${err.message}); set HF_HUB_OFFLINE=1 to use the cache only`);
  if (err instanceof TransientError) return new GemmaError(transientMessage(err, ctx, request));
  return err;
}
