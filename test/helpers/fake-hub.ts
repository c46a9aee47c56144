import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

/**
 * A local stand-in for the Hugging Face Hub, answering the requests @huggingface/hub and
 * `gemma pull` make, the way huggingface.co does (docs: /work/shared/reference/hub-client.md):
 * model info, paged tree listings with LFS sha256, resolve with a 302 to a second "CDN" server
 * for LFS files (X-Linked-Etag/-Size, X-Repo-Commit) or a 307 to resolve-cache for small ones
 * (gzip, no Content-Length), Range requests, and 401/403/404 with X-Error-Code. Both servers
 * listen on 127.0.0.1 with ephemeral ports.
 */

export interface HubFile { path: string; content: Buffer; lfs: boolean; sha256: string; oid: string }
interface ActiveFault extends Fault { handle: FaultHandle; gate: Promise<void>; reached: () => void }
interface Repo { gated: boolean; rawListing: boolean; listedSizes: Record<string, number>; grants: Set<string>; branches: Map<string, string>; commits: Map<string, HubFile[]> }

export type FaultKind = 'cut' | 'stall' | 'corrupt' | 'ignore-range' | 'error-503' | 'wrong-etag' | 'api-500';
/** `path` is the file, or for 'api-500' the API route: 'revision' (model info) or 'tree' (file list). */
export interface Fault { path: string; kind: FaultKind; after?: number; times?: number }
export interface FaultHandle { hits: number; stalled: Promise<void>; release(): void }
export interface Logged { server: 'hub' | 'cdn'; path: string; range?: string; authorization?: string }

const sha = (algo: string, ...parts: (Buffer | string)[]): string => parts.reduce((h, p) => h.update(p), createHash(algo)).digest('hex');
const TREE_PAGE = 4;

export function hubFile(path: string, content: Buffer): HubFile {
  const lfs = /\.(safetensors|gguf|bin)$/.test(path) || content.length >= 100_000;
  return { path, content, lfs, sha256: sha('sha256', content), oid: sha('sha1', `blob ${content.length}\0`, content) };
}

export class FakeHub {
  readonly tokens = new Set<string>();
  readonly requests: Logged[] = [];
  /** File content bytes sent by either server. */
  bytesServed = 0;
  private readonly repos = new Map<string, Repo>();
  private readonly faults: ActiveFault[] = [];
  private commitCount = 0;

  private constructor(private readonly hub: Server, private readonly cdn: Server) {}

  static async start(): Promise<FakeHub> {
    const fake: FakeHub = new FakeHub(createServer((q, s) => fake.onHub(q, s)), createServer((q, s) => fake.onCdn(q, s)));
    await Promise.all([fake.hub, fake.cdn].map((server) => new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))));
    return fake;
  }

  get url(): string { return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`; }
  private get cdnUrl(): string { return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`; }

  /** `listedSizes`: sizes the listing and X-Linked-Size give instead of the true ones, as a lying server would. */
  addRepo(id: string, files: Record<string, Buffer>, opts: { gated?: boolean; rawListing?: boolean; listedSizes?: Record<string, number> } = {}): string {
    this.repos.set(id, { gated: opts.gated ?? false, rawListing: opts.rawListing ?? false, listedSizes: opts.listedSizes ?? {}, grants: new Set(), branches: new Map(), commits: new Map() });
    return this.push(id, files);
  }

  /** A new commit with exactly these files on `branch`; returns its hash. */
  push(id: string, files: Record<string, Buffer>, branch = 'main'): string {
    const repo = this.repos.get(id)!;
    const commit = sha('sha1', `${id}:${++this.commitCount}`);
    repo.commits.set(commit, Object.entries(files).map(([path, content]) => hubFile(path, content)));
    repo.branches.set(branch, commit);
    return commit;
  }

  tag(id: string, name: string, commit: string): void { this.repos.get(id)!.branches.set(name, commit); }
  grant(id: string, token: string): void { this.tokens.add(token); this.repos.get(id)!.grants.add(token); }

  fault(fault: Fault): FaultHandle {
    let reached = (): void => undefined;
    let release = (): void => undefined;
    const gate = new Promise<void>((ok) => (release = ok));
    const handle: FaultHandle = { hits: 0, stalled: new Promise<void>((ok) => (reached = ok)), release: () => release() };
    this.faults.push({ ...fault, handle, gate, reached: () => reached() });
    return handle;
  }

  clearFaults(): void {
    for (const f of this.faults.splice(0)) f.handle.release();
  }

  async close(): Promise<void> {
    this.clearFaults();
    for (const server of [this.hub, this.cdn]) {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  }

  private takeFault(path: string, kinds: FaultKind[]): ActiveFault | undefined {
    const f = this.faults.find((x) => x.path === path && kinds.includes(x.kind) && (x.times ?? Infinity) > x.handle.hits);
    if (f !== undefined) f.handle.hits++;
    return f;
  }

  private log(server: 'hub' | 'cdn', q: IncomingMessage): void {
    this.requests.push({ server, path: q.url ?? '', range: q.headers.range, authorization: q.headers.authorization });
  }

  private fail(s: ServerResponse, status: number, code: string): void {
    s.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code }).end(JSON.stringify({ error: code }));
  }

  /** Token and repo checks in the Hub's order; returns the repo, its commit for `rev`, and who asks. */
  private access(q: IncomingMessage, s: ServerResponse, id: string, rev: string): { repo: Repo; commit: string; token?: string } | undefined {
    const token = q.headers.authorization?.replace(/^Bearer /, '');
    if (token !== undefined && !this.tokens.has(token)) return void this.fail(s, 401, 'InvalidCredentials');
    const repo = this.repos.get(id);
    if (repo === undefined) return void this.fail(s, token ? 404 : 401, 'RepoNotFound');
    const commit = repo.branches.get(rev) ?? (repo.commits.has(rev) ? rev : undefined);
    if (commit === undefined) return void this.fail(s, 404, 'RevisionNotFound');
    return { repo, commit, token };
  }

  private onHub(q: IncomingMessage, s: ServerResponse): void {
    this.log('hub', q);
    const url = new URL(q.url ?? '/', this.url);
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/models\/[^/]+\/[^/]+\/(revision|tree)\//.exec(p)) && this.takeFault(m[1]!, ['api-500'])) return this.fail(s, 500, 'InternalServerError');
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(p))) return this.info(q, s, m[1]!, decodeURIComponent(m[2]!));
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(p))) return this.tree(q, s, m[1]!, m[2]!, url);
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p))) return this.resolve(q, s, m[1]!, decodeURIComponent(m[2]!), m[3]!);
    if ((m = /^\/api\/resolve-cache\/models\/([^/]+\/[^/]+)\/([0-9a-f]{40})\/(.+)$/.exec(p))) return this.small(q, s, m[1]!, m[2]!, m[3]!);
    this.fail(s, 404, 'NotFound');
  }

  private info(q: IncomingMessage, s: ServerResponse, id: string, rev: string): void {
    const ok = this.access(q, s, id, rev);
    if (ok === undefined) return;
    const siblings = ok.repo.commits.get(ok.commit)!.map((f) => ({ rfilename: f.path }));
    const gated = ok.repo.gated ? 'manual' : false;
    s.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      _id: `id-${id}`, id, sha: ok.commit, private: false, gated, downloads: 0, likes: 0, lastModified: new Date(0).toISOString(), siblings,
    }));
  }

  private tree(q: IncomingMessage, s: ServerResponse, id: string, rev: string, url: URL): void {
    const ok = this.access(q, s, id, rev);
    if (ok === undefined) return;
    const files = ok.repo.commits.get(ok.commit)!;
    const entries = ok.repo.rawListing || url.searchParams.get('recursive') === 'true' ? files : [
      ...files.filter((f) => !f.path.includes('/')),
      ...[...new Set(files.filter((f) => f.path.includes('/')).map((f) => f.path.split('/')[0]!))].map((d) => ({ dir: d })),
    ];
    const cursor = Number(url.searchParams.get('cursor') ?? 0);
    const size = (f: HubFile): number => ok.repo.listedSizes[f.path] ?? f.content.length;
    const page = entries.slice(cursor, cursor + TREE_PAGE).map((f) => ('dir' in f
      ? { type: 'directory', oid: sha('sha1', f.dir), size: 0, path: f.dir }
      : { type: 'file', oid: f.oid, size: size(f), path: f.path, ...(f.lfs ? { lfs: { oid: f.sha256, size: size(f), pointerSize: 134 } } : {}) }));
    url.searchParams.set('cursor', String(cursor + TREE_PAGE));
    const next = cursor + TREE_PAGE < entries.length ? `<${url}>; rel="next"` : undefined;
    s.writeHead(200, { 'content-type': 'application/json', ...(next ? { link: next } : {}) }).end(JSON.stringify(page));
  }

  private resolve(q: IncomingMessage, s: ServerResponse, id: string, rev: string, rawPath: string): void {
    const ok = this.access(q, s, id, rev);
    if (ok === undefined) return;
    if (ok.repo.gated && !(ok.token && ok.repo.grants.has(ok.token))) return this.fail(s, ok.token ? 403 : 401, 'GatedRepo');
    const path = decodeURIComponent(rawPath);
    const file = ok.repo.commits.get(ok.commit)!.find((f) => f.path === path);
    if (file === undefined) return this.fail(s, 404, 'EntryNotFound');
    if (this.takeFault(path, ['error-503'])) return this.fail(s, 503, 'Unavailable');
    if (!file.lfs) return void s.writeHead(307, { location: `/api/resolve-cache/models/${id}/${ok.commit}/${rawPath}`, 'x-repo-commit': ok.commit }).end();
    const etag = this.takeFault(path, ['wrong-etag']) ? sha('sha256', 'other') : file.sha256;
    s.writeHead(302, {
      location: `${this.cdnUrl}/lfs/${file.sha256}?name=${encodeURIComponent(path)}&X-Amz-Signature=fake`,
      'x-linked-etag': `"${etag}"`, 'x-linked-size': String(ok.repo.listedSizes[path] ?? file.content.length), 'x-repo-commit': ok.commit,
    }).end();
  }

  private small(q: IncomingMessage, s: ServerResponse, id: string, commit: string, rawPath: string): void {
    const file = this.repos.get(id)?.commits.get(commit)?.find((f) => f.path === decodeURIComponent(rawPath));
    if (file === undefined) return this.fail(s, 404, 'EntryNotFound');
    const gzip = /gzip/.test(String(q.headers['accept-encoding'])) && file.path.endsWith('.json');
    const body = gzip ? gzipSync(file.content) : file.content;
    s.writeHead(200, { etag: `"${file.oid}"`, 'x-repo-commit': commit, ...(gzip ? { 'content-encoding': 'gzip' } : { 'content-length': String(body.length) }) });
    this.bytesServed += file.content.length;
    s.end(body);
  }

  private onCdn(q: IncomingMessage, s: ServerResponse): void {
    this.log('cdn', q);
    const url = new URL(q.url ?? '/', this.cdnUrl);
    const name = url.searchParams.get('name') ?? '';
    const file = [...this.repos.values()].flatMap((r) => [...r.commits.values()].flat()).find((f) => url.pathname === `/lfs/${f.sha256}`);
    if (file === undefined) return void s.writeHead(404).end();
    const size = file.content.length;
    const range = q.headers.range !== undefined && this.takeFault(name, ['ignore-range']) ? undefined : /^bytes=(\d+)-(\d*)$/.exec(q.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size) return void s.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    let body = file.content.subarray(start, end + 1);
    if (this.takeFault(name, ['corrupt'])) (body = Buffer.from(body))[body.length >> 1] ^= 0xff;
    s.writeHead(range ? 206 : 200, {
      'content-length': String(body.length), etag: `"cdn-${file.sha256.slice(0, 12)}"`, 'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    void this.send(s, name, body);
  }

  /** Writes the body, honouring a cut or stall fault for this file. */
  private async send(s: ServerResponse, name: string, body: Buffer): Promise<void> {
    s.on('error', () => undefined);
    const fault = this.takeFault(name, ['cut', 'stall']);
    const at = fault === undefined ? body.length : Math.min(fault.after ?? body.length >> 1, body.length);
    await new Promise<void>((ok) => s.write(body.subarray(0, at), () => ok()));
    this.bytesServed += at;
    if (fault?.kind === 'cut') return void s.socket?.destroy();
    if (fault?.kind === 'stall') {
      fault.reached();
      await fault.gate;
      if (s.destroyed) return;
    }
    this.bytesServed += body.length - at;
    s.end(body.subarray(at));
  }
}
