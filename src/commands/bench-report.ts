import { DEFAULT_ATTENTION, type AttentionKernel, type ExecutionProvider, type Scheme } from '../quantize/precision.js';
import type { BenchResult } from '../runtime/bench.js';
import { formatBytes } from './progress.js';

export interface BenchReport {
  model: string;
  source: string;
  variant: string;
  precision: string;
  blockSize: number | null;
  /** null for fp32 */
  scheme: Scheme | null;
  attention: AttentionKernel;
  sizeBytes: number;
  ep: ExecutionProvider;
  threads: number | 'auto';
  loadMs: number;
  ttftPrompt: number;
  ttftMs: number;
  peakRssBytes: number;
  tests: BenchResult[];
}

export function toJson(r: BenchReport): Record<string, unknown> {
  return {
    model: r.model, source: r.source, variant: r.variant, precision: r.precision, block_size: r.blockSize, scheme: r.scheme, attention: r.attention,
    size_bytes: r.sizeBytes, ep: r.ep, threads: r.threads, load_ms: Math.round(r.loadMs),
    ttft: { prompt_tokens: r.ttftPrompt, ms: Math.round(r.ttftMs) }, peak_rss_bytes: r.peakRssBytes,
    tests: r.tests.map((t) => ({
      name: t.name, kind: t.kind, n_tokens: t.tokens, depth: t.depth, repetitions: t.samples.length,
      samples: t.samples.map((s) => ({ start_position: s.startPosition, tokens: s.tokens, ms: Number(s.ms.toFixed(3)), tps: Number(((s.tokens * 1000) / s.ms).toFixed(3)) })),
      avg_ts: Number(t.avgTps.toFixed(3)), stddev_ts: Number(t.stddevTps.toFixed(3)),
    })),
  };
}

export function toCsv(r: BenchReport): string {
  const head = 'model,size_bytes,precision,block_size,scheme,attention,ep,threads,test,n_tokens,depth,avg_ts,stddev_ts';
  const rows = r.tests.map((t) => [r.model, r.sizeBytes, r.precision, r.blockSize ?? '', r.scheme ?? '', r.attention, r.ep, r.threads, t.kind, t.tokens, t.depth, t.avgTps.toFixed(3), t.stddevTps.toFixed(3)].join(','));
  return `${[head, ...rows].join('\n')}\n`;
}

/** llama-bench's markdown table, plus the load, time-to-first-token and memory line. */
export function toMarkdown(r: BenchReport): string {
  const layout = r.blockSize === null ? r.precision : `${r.precision} b${r.blockSize}${r.scheme === 'asymmetric' ? ' asym' : ''}`;
  const quant = r.attention === DEFAULT_ATTENTION ? layout : `${layout} ${r.attention}`;
  const rows = r.tests.map((t) => `| ${r.model} | ${formatBytes(r.sizeBytes)} | ${quant} | ${r.ep} | ${r.threads} | ${t.name} | ${t.avgTps.toFixed(2)} ± ${t.stddevTps.toFixed(2)} |`);
  return [
    '| model | size | weights | ep | threads | test | t/s |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `load ${(r.loadMs / 1000).toFixed(2)} s · time to first token (${r.ttftPrompt}-token prompt) ${(r.ttftMs / 1000).toFixed(2)} s · peak RSS ${formatBytes(r.peakRssBytes)}`,
    '',
  ].join('\n');
}
