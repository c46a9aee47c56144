import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import type { ModelSpec } from '../../src/checkpoint/config.js';
import { INPUT_IDS, LOGITS, LOGITS_TO_KEEP, newKey, newValue, pastKey, pastValue, POSITION_IDS } from '../../src/onnx/io-names.js';
import { MODEL_FILE } from '../../src/quantize/manifest.js';

export async function loadSession(exportDir: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(join(exportDir, MODEL_FILE), { intraOpNumThreads: 1 });
}

const int64 = (values: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

/** One head's columns of position-major rows, as the runtime stores them. */
function headRows(rows: Float32Array, count: number, stride: number, offset: number, width: number): Float32Array {
  const out = new Float32Array(count * width);
  for (let r = 0; r < count; r++) out.set(rows.subarray(r * stride + offset, r * stride + offset + width), r * width);
  return out;
}

export interface StepResult {
  logits: Float32Array[];
  newKeys: Float32Array[];
  newValues: Float32Array[];
}

/**
 * One run of the exported graph: `ids` at positions start.., with `past[i]` the cached
 * rows (keys, values) of layer i, each [rows · kvDim].
 */
export async function runStep(
  session: ort.InferenceSession, spec: ModelSpec, ids: number[], start: number,
  past: { keys: Float32Array; values: Float32Array }[], keep = 0,
): Promise<StepResult> {
  const feeds: Record<string, ort.Tensor> = {
    [INPUT_IDS]: int64(ids),
    [POSITION_IDS]: int64(ids.map((_, i) => start + i)),
    [LOGITS_TO_KEEP]: new ort.Tensor('int64', BigInt64Array.from([BigInt(keep)]), [1]),
  };
  const { head_dim: hd, num_key_value_heads: kvh } = spec.config;
  for (let i = 0; i < spec.config.num_hidden_layers; i++) {
    const rows = past[i]!.keys.length / spec.kvDim;
    for (let h = 0; h < kvh; h++) {
      feeds[pastKey(i, h)] = new ort.Tensor('float32', headRows(past[i]!.keys, rows, spec.kvDim, h * hd, hd), [rows, hd]);
      feeds[pastValue(i, h)] = new ort.Tensor('float32', headRows(past[i]!.values, rows, spec.kvDim, h * hd, hd), [rows, hd]);
    }
  }
  const out = await session.run(feeds);
  const vocab = spec.config.vocab_size;
  const logits = out[LOGITS]!.data as Float32Array;
  const kept = logits.length / vocab;
  return {
    logits: Array.from({ length: kept }, (_, p) => logits.subarray(p * vocab, (p + 1) * vocab)),
    newKeys: spec.isSliding.map((_, i) => out[newKey(i)]!.data as Float32Array),
    newValues: spec.isSliding.map((_, i) => out[newValue(i)]!.data as Float32Array),
  };
}

export const emptyPast = (spec: ModelSpec): { keys: Float32Array; values: Float32Array }[] =>
  spec.isSliding.map(() => ({ keys: new Float32Array(0), values: new Float32Array(0) }));

/** Logits at every position of a prompt run in one pass from an empty cache. */
export async function promptLogits(session: ort.InferenceSession, spec: ModelSpec, ids: number[]): Promise<Float32Array[]> {
  return (await runStep(session, spec, ids, 0, emptyPast(spec))).logits;
}
