import type { SourceFiles } from '../checkpoint/source-files.js';
import type { StagePlan } from '../onnx/stages.js';
import type { ExecutionProvider, WeightFormat } from '../quantize/precision.js';

export const MANIFEST_FILE = 'gemma.json';
export const DATA_FILE = 'model.onnx.data';
/** Bumped whenever the graphs' inputs/outputs change meaning (docs/graph-contract.md). */
export const GRAPH_CONTRACT = 'gemma2-new-kv/7';
/** The decode loop's graph, written beside one-graph exports (docs/graph-contract.md, "The decode loop"). */
export const LOOP_FILE = 'decode-loop.onnx';

export interface Manifest {
  format: 'gemma-onnx';
  tool: { name: 'gemma'; version: string };
  contract: typeof GRAPH_CONTRACT;
  /** `files` is absent in exports made before gemma recorded it: those count as stale. */
  source: { path: string; label: string; files?: SourceFiles };
  /** The checkpoint's config.json as found. */
  config: Record<string, unknown>;
  weights: WeightFormat;
  /** The EP the graph was built for; its KV cache is fp32 on cpu, fp16 on cuda. */
  ep: ExecutionProvider;
  /** The graphs, run one after the other; all read their weights from `files.data`. */
  stages: StagePlan[];
  /** The decode loop's graph, over the same data file; one-graph exports only. */
  loop?: string;
  files: { data: string; tokenizer: string[]; generationConfig?: string };
  sizes: { modelBytes: number; dataBytes: number };
  nodes: number;
  created: string;
}

/** Every file an export consists of, its manifest included: what a new export may replace. */
export const exportFiles = (m: Manifest): string[] =>
  [MANIFEST_FILE, m.files.data, ...m.stages.map((s) => s.file), ...(m.loop === undefined ? [] : [m.loop]), ...m.files.tokenizer, ...(m.files.generationConfig === undefined ? [] : [m.files.generationConfig])];

/** The loop needs the whole cache in one graph: only exports of one stage have it. */
export const hasDecodeLoop = (stages: readonly StagePlan[]): boolean => stages.length === 1;
