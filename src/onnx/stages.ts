import type { ModelSpec } from '../checkpoint/config.js';
import type { ExecutionProvider } from '../quantize/precision.js';

/** One graph of an export: a run of consecutive layers, with the embedding before the first and the lm_head after the last. */
export interface StagePlan {
  /** The graph file, in the export folder. */
  file: string;
  /** Layers `start … end − 1`. */
  layers: [start: number, end: number];
}

/**
 * Two graphs on the CPU: each loads in its own thread, so onnxruntime's single-threaded
 * prepacking of the weights runs on two cores (docs/benchmarks-history.md, "Change: two
 * graphs that load in parallel"). CUDA exports stay one graph, the form the device check
 * measured.
 */
export const defaultStages = (ep: ExecutionProvider): number => (ep === 'cpu' ? 2 : 1);

/** Weights of one decoder layer, in elements (q, k, v, o, gate, up, down). */
function layerWeights(spec: ModelSpec): number {
  const { hidden_size: h, intermediate_size: ff } = spec.config;
  return h * (spec.qDim + 2 * spec.kvDim) + spec.qDim * h + 3 * h * ff;
}

const stageFile = (index: number, count: number): string => (count === 1 ? 'model.onnx' : `model-${index + 1}-of-${count}.onnx`);

/**
 * Cuts the layers into `count` stages of about equal weight, counting the tied vocabulary
 * matrix in the last stage (its lm_head is prepacked there; the embedding lookup of the
 * first stage reads only the rows it needs). Every stage has at least one layer.
 */
export function planStages(spec: ModelSpec, count: number): StagePlan[] {
  const layers = spec.config.num_hidden_layers;
  if (!Number.isInteger(count) || count < 1 || count > layers) throw new RangeError(`must be from 1 to ${layers} (the model's layers), got ${count}`);
  const perLayer = layerWeights(spec);
  const total = layers * perLayer + spec.config.vocab_size * spec.config.hidden_size;
  const ends: number[] = [];
  for (let s = 1; s < count; s++) {
    const wanted = Math.round((s * total) / count / perLayer);
    const lowest = (ends.at(-1) ?? 0) + 1;
    ends.push(Math.min(Math.max(wanted, lowest), layers - (count - s)));
  }
  ends.push(layers);
  return ends.map((end, i) => ({ file: stageFile(i, count), layers: [i === 0 ? 0 : ends[i - 1]!, end] }));
}
