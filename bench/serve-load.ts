/**
 * Load on `gemma serve`: --clients concurrent streaming clients send --requests chat requests in all (each asking for
 * --max-tokens tokens) to a server on this machine's loopback, started here (`<model>`, with any `gemma serve` options
 * after `--`) or already running (--url). One warm-up request goes first and is not counted; requests still open at
 * --time seconds are cut and counted as `time limit`. Reports requests/s, generated tokens/s over all clients, time to
 * the first token p50/p95, failures by HTTP status, and the peak RSS of a server started here (its VmHWM). Prints a
 * markdown table and one JSON line. GB = 10^9 bytes.
 *
 *   node dist/bench/serve-load.js <model> [--clients 4] [--requests 32] [--max-tokens 64] [--time 300] [--prompt TEXT] [-- --parallel 2 ...]
 *   node dist/bench/serve-load.js --url http://127.0.0.1:8080 [...]
 */
import { parseArgs } from 'node:util';
import { startServer } from '../test/helpers/serve.js';
import { readHwm } from './child-rss.js';
import { GB } from './shaped-checkpoint.js';

interface Options {
  model: string | undefined;
  url: string | undefined;
  serveArgs: string[];
  clients: number;
  requests: number;
  maxTokens: number;
  seconds: number;
  prompt: string;
}

/** How one request ended: its HTTP status, or why it has none. */
type Outcome = number | 'network' | 'incomplete' | 'time limit';

interface Sample {
  outcome: Outcome;
  firstTokenMs: number | undefined;
  tokens: number;
}

interface Report {
  model: string;
  clients: number;
  requests: number;
  ok: number;
  /** Requests that did not end in a complete 200 stream, by status (429 and 503: the queue was full) or cause. */
  failures: Record<string, number>;
  maxTokens: number;
  seconds: number;
  requestsPerSecond: number;
  generatedTokensPerSecond: number;
  firstTokenMs: { p50: number; p95: number };
  /** Of a server started here; a running one (--url) is not measured. */
  peakRssBytes: number | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${text}`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const dashes = argv.indexOf('--');
  const { values, positionals } = parseArgs({
    args: dashes < 0 ? argv : argv.slice(0, dashes),
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      clients: { type: 'string', short: 'c', default: '4' },
      requests: { type: 'string', short: 'n', default: '32' },
      'max-tokens': { type: 'string', default: '64' },
      time: { type: 'string', default: '300' },
      prompt: { type: 'string', default: 'Tell me about the sea.' },
    },
  });
  const [model, ...rest] = positionals;
  if ((model === undefined) === (values.url === undefined)) throw new Error('give either a <model> to serve or the --url of a running gemma serve');
  if (rest.length > 0) throw new Error(`unexpected arguments: ${rest.join(' ')} (gemma serve options go after --)`);
  if (values.url !== undefined && !LOOPBACK.has(new URL(values.url).hostname)) throw new Error(`--url ${values.url}: this bench loads a server on this machine's loopback only`);
  return {
    model,
    url: values.url,
    serveArgs: dashes < 0 ? [] : argv.slice(dashes + 1),
    clients: positiveInt('clients', values.clients),
    requests: positiveInt('requests', values.requests),
    maxTokens: positiveInt('max-tokens', values['max-tokens']),
    seconds: positiveInt('time', values.time),
    prompt: values.prompt,
  };
}

/** Reads a chat completion stream: when the first content arrived, how many pieces (or usage's count), and whether `[DONE]` came. */
async function readStream(body: ReadableStream<Uint8Array>, started: number): Promise<{ firstTokenMs: number | undefined; tokens: number; done: boolean }> {
  let firstTokenMs: number | undefined;
  let pieces = 0;
  let usage: number | undefined;
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const bytes of body) {
    buffered += decoder.decode(bytes, { stream: true });
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter((l) => l.startsWith('data: '))) {
      const data = line.slice(6).trim();
      if (data === '[DONE]') return { firstTokenMs, tokens: usage ?? pieces, done: true };
      const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[]; usage?: { completion_tokens: number } };
      if (chunk.usage) usage = chunk.usage.completion_tokens;
      if (!chunk.choices?.[0]?.delta?.content) continue;
      pieces++;
      firstTokenMs ??= performance.now() - started;
    }
  }
  return { firstTokenMs, tokens: usage ?? pieces, done: false };
}

async function request(url: string, body: string, deadline: AbortSignal): Promise<Sample> {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, signal: deadline });
    if (!response.ok || response.body === null) {
      await response.arrayBuffer();
      return { outcome: response.status, firstTokenMs: undefined, tokens: 0 };
    }
    const read = await readStream(response.body, started);
    return { ...read, outcome: read.done ? response.status : 'incomplete' };
  } catch {
    return { outcome: deadline.aborted ? 'time limit' : 'network', firstTokenMs: undefined, tokens: 0 };
  }
}

const chatBody = (o: Options, i: number): string =>
  JSON.stringify({ messages: [{ role: 'user', content: `${o.prompt} (${i})` }], max_tokens: o.maxTokens, stream: true, stream_options: { include_usage: true } });

/** The clients share one counter of requests to send; each sends its next as soon as its last one ends. */
async function load(url: string, o: Options): Promise<{ samples: Sample[]; seconds: number }> {
  const deadline = AbortSignal.timeout(o.seconds * 1000);
  const samples: Sample[] = [];
  let issued = 0;
  const client = async (): Promise<void> => {
    while (issued < o.requests && !deadline.aborted) samples.push(await request(url, chatBody(o, issued++), deadline));
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: o.clients }, client));
  return { samples, seconds: (performance.now() - started) / 1000 };
}

/** Nearest-rank percentile. */
function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

function summarize(o: Options, model: string, samples: Sample[], seconds: number, peakRssBytes: number | null): Report {
  const ok = samples.filter((s) => s.outcome === 200);
  const failures: Record<string, number> = {};
  for (const s of samples) if (s.outcome !== 200) failures[s.outcome] = (failures[s.outcome] ?? 0) + 1;
  const ttft = ok.flatMap((s) => (s.firstTokenMs === undefined ? [] : [s.firstTokenMs])).sort((a, b) => a - b);
  return {
    model,
    clients: o.clients,
    requests: samples.length,
    ok: ok.length,
    failures,
    maxTokens: o.maxTokens,
    seconds,
    requestsPerSecond: ok.length / seconds,
    generatedTokensPerSecond: ok.reduce((sum, s) => sum + s.tokens, 0) / seconds,
    firstTokenMs: { p50: percentile(ttft, 0.5), p95: percentile(ttft, 0.95) },
    peakRssBytes,
  };
}

function markdown(r: Report): string {
  const failures = Object.entries(r.failures).map(([k, n]) => `${k}: ${n}`).join(', ') || '0';
  const rss = r.peakRssBytes === null ? '-' : (r.peakRssBytes / GB).toFixed(2);
  const cells = [r.model, r.clients, `${r.requests} × ${r.maxTokens}`, r.ok, failures, r.seconds.toFixed(1), r.requestsPerSecond.toFixed(2), r.generatedTokensPerSecond.toFixed(1), r.firstTokenMs.p50.toFixed(0), r.firstTokenMs.p95.toFixed(0), rss];
  return '| model | clients | requests × max tokens | ok | failed | wall s | requests/s | generated t/s | first token p50 ms | p95 ms | server peak RSS GB |\n|---|---|---|---|---|---|---|---|---|---|---|\n' + `| ${cells.join(' | ')} |\n`;
}

async function modelName(url: string): Promise<string> {
  const response = await fetch(`${url}/v1/models`);
  if (!response.ok) throw new Error(`GET ${url}/v1/models: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: { id: string }[] }).data[0]!.id;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const server = o.model === undefined ? undefined : await startServer([o.model, '--host', '127.0.0.1', '--port', '0', ...o.serveArgs], {});
  const url = (server?.url ?? o.url!).replace(/\/$/, '');
  try {
    const model = await modelName(url);
    const warm = await request(url, chatBody(o, -1), AbortSignal.timeout(o.seconds * 1000));
    if (warm.outcome !== 200) throw new Error(`the warm-up request failed: ${warm.outcome}`);
    const { samples, seconds } = await load(url, o);
    const peak = server === undefined ? null : await readHwm(server.child.pid!);
    const report = summarize(o, model, samples, seconds, peak);
    process.stdout.write(`${markdown(report)}\n${JSON.stringify(report)}\n`);
  } finally {
    server?.child.kill('SIGTERM');
    await server?.done;
  }
}

await main().catch((err: unknown) => {
  process.stderr.write(`serve-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
