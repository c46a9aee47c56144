import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelSpec } from '../../src/checkpoint/config.js';
import { hiddenStates, INPUT_IDS, LOGITS, LOGITS_TO_KEEP, newKey, newValue, pastKey, pastValue, POSITION_IDS } from '../../src/onnx/io-names.js';
import type { StagePlan } from '../../src/onnx/stages.js';
import { MANIFEST_FILE, type Manifest } from '../../src/export/manifest.js';

/** An export's graphs in plain onnxruntime sessions, run here without gemma's runtime. */
export interface ExportSessions {
  stages: { plan: StagePlan; session: ort.InferenceSession }[];
  /** The cache layout of the export's attention kernel: values transposed (ops) or like keys (gqa). */
  transposedValues: boolean;
  release(): Promise<void>;
}

export async function loadSession(exportDir: string): Promise<ExportSessions> {
  const manifest = JSON.parse(await readFile(join(exportDir, MANIFEST_FILE), 'utf8')) as Manifest;
  const stages: ExportSessions['stages'] = [];
  for (const plan of manifest.stages) stages.push({ plan, session: await ort.InferenceSession.create(join(exportDir, plan.file), { intraOpNumThreads: 1 }) });
  return { stages, transposedValues: manifest.weights.attention === 'ops', release: async () => void (await Promise.all(stages.map((s) => s.session.release()))) };
}

const int64 = (values: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

/**
 * A layer's cache in the graph's layouts, keys [kv_heads, capacity, head_dim] and values
 * [kv_heads, head_dim, capacity] (or like keys), from position-major rows, with `padding`
 * rows of large finite junk after them (the graph must mask those); an empty cache is one junk row.
 */
function cacheLayouts(spec: ModelSpec, rows: { keys: Float32Array; values: Float32Array }, padding: number, transposedValues: boolean): { keys: ort.Tensor; values: ort.Tensor } {
  const { head_dim: hd, num_key_value_heads: kvh } = spec.config;
  const count = rows.keys.length / spec.kvDim;
  const capacity = Math.max(1, count + padding);
  const keys = new Float32Array(kvh * capacity * hd).fill(1e3);
  const values = new Float32Array(kvh * capacity * hd).fill(-1e3);
  for (let h = 0; h < kvh; h++) {
    for (let r = 0; r < count; r++) {
      for (let d = 0; d < hd; d++) {
        keys[(h * capacity + r) * hd + d] = rows.keys[r * spec.kvDim + h * hd + d]!;
        values[transposedValues ? (h * hd + d) * capacity + r : (h * capacity + r) * hd + d] = rows.values[r * spec.kvDim + h * hd + d]!;
      }
    }
  }
  return { keys: new ort.Tensor('float32', keys, [kvh, capacity, hd]), values: new ort.Tensor('float32', values, transposedValues ? [kvh, hd, capacity] : [kvh, capacity, hd]) };
}

export interface StepResult {
  logits: Float32Array[];
  newKeys: Float32Array[];
  newValues: Float32Array[];
}

/**
 * One run of the exported graphs, each stage fed the residual stream the one before
 * returned: `ids` at positions start.., with `past[i]` layer i's cached rows (keys,
 * values) of positions 0 … start − 1, each [start · kvDim], fed with `padding` junk rows
 * after them.
 */
export async function runStep(
  sessions: ExportSessions, spec: ModelSpec, ids: number[], start: number,
  past: { keys: Float32Array; values: Float32Array }[], keep = 0, padding = 0,
): Promise<StepResult> {
  const outputs: Record<string, ort.Tensor> = {};
  let hidden: ort.Tensor | undefined;
  for (const { plan, session } of sessions.stages) {
    const [first, end] = plan.layers;
    const feeds: Record<string, ort.Tensor> = { [POSITION_IDS]: int64(ids.map((_, i) => start + i)) };
    if (first === 0) feeds[INPUT_IDS] = int64(ids);
    else feeds[hiddenStates(first)] = hidden!;
    if (end === spec.config.num_hidden_layers) feeds[LOGITS_TO_KEEP] = new ort.Tensor('int64', BigInt64Array.from([BigInt(keep)]), [1]);
    for (let i = first; i < end; i++) {
      const layer = cacheLayouts(spec, past[i]!, padding, sessions.transposedValues);
      feeds[pastKey(i)] = layer.keys;
      feeds[pastValue(i)] = layer.values;
    }
    const out = await session.run(feeds);
    Object.assign(outputs, out);
    hidden = out[hiddenStates(end)];
  }
  const vocab = spec.config.vocab_size;
  const logits = outputs[LOGITS]!.data as Float32Array;
  const kept = logits.length / vocab;
  return {
    logits: Array.from({ length: kept }, (_, p) => logits.subarray(p * vocab, (p + 1) * vocab)),
    newKeys: spec.isSliding.map((_, i) => outputs[newKey(i)]!.data as Float32Array),
    newValues: spec.isSliding.map((_, i) => outputs[newValue(i)]!.data as Float32Array),
  };
}

export const emptyPast = (spec: ModelSpec): { keys: Float32Array; values: Float32Array }[] =>
  spec.isSliding.map(() => ({ keys: new Float32Array(0), values: new Float32Array(0) }));

/** Logits at every position of a prompt run in one pass from an empty cache. */
export async function promptLogits(session: ExportSessions, spec: ModelSpec, ids: number[]): Promise<Float32Array[]> {
  return (await runStep(session, spec, ids, 0, emptyPast(spec))).logits;
}
