import { GemmaError } from '../util/errors.js';
import { failOn, HttpStatusError, networkError } from './http.js';

export interface HttpContext {
  endpoint: string;
  token: string | undefined;
  fetch: typeof fetch;
}

/** What the Hub says about the file it redirects to, before the CDN answers. */
export interface LinkedInfo {
  /** X-Linked-Etag: the LFS file's sha256. */
  etag?: string;
  size?: number;
  commit?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

const unquote = (etag: string): string => etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

function noteLinked(linked: LinkedInfo, headers: Headers): void {
  const etag = headers.get('x-linked-etag');
  const size = Number(headers.get('x-linked-size') ?? NaN);
  const commit = headers.get('x-repo-commit');
  if (etag) linked.etag = unquote(etag);
  if (Number.isSafeInteger(size)) linked.size = size;
  if (commit) linked.commit = commit;
}

export function resolveUrl(endpoint: string, repo: string, commit: string, path: string): string {
  return `${endpoint}/${repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * GETs a file, following redirects by hand: the token goes only to the Hub's own origin, never
 * to the CDN, and the Hub's X-Linked-* headers are read from the redirect itself.
 */
export async function openFile(ctx: HttpContext, url: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ response: Response; linked: LinkedInfo }> {
  const hub = new URL(ctx.endpoint).origin;
  const linked: LinkedInfo = {};
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const auth: Record<string, string> = ctx.token !== undefined && current.origin === hub ? { authorization: `Bearer ${ctx.token}` } : {};
    let response: Response;
    try {
      response = await ctx.fetch(current, { headers: { ...headers, ...auth }, redirect: 'manual', signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw networkError(err, `GET ${current.origin}${current.pathname}`);
    }
    noteLinked(linked, response.headers);
    if (!REDIRECTS.has(response.status)) {
      if (response.status === 200 || response.status === 206) return { response, linked };
      if (response.status === 416) return { response, linked };
      return failOn(response);
    }
    void response.body?.cancel().catch(() => undefined);
    const location = response.headers.get('location');
    if (location === null) throw new HttpStatusError(response.status, 'RedirectWithoutLocation');
    current = new URL(location, current);
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new GemmaError(`the Hub redirected to an unsupported URL scheme ${current.protocol}`);
  }
  throw new GemmaError(`more than ${MAX_REDIRECTS} redirects for ${url}`);
}
