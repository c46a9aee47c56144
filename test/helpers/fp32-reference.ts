import type { ModelSpec } from '../../src/checkpoint/config.js';
import type { AttentionKernel, WeightFormat } from '../../src/quantize/precision.js';
import { exportModel } from '../../src/export/export.js';
import { referenceForward, type ReferenceResult, type Weights } from '../reference/gemma2-reference.js';
import { loadSession, promptLogits, type ExportSessions } from './onnx-run.js';
import { loadReferenceWeights } from './reference-weights.js';

/** The CPU exactness reference's format: fp32 weights, the graph the float64 reference is checked against. */
export const FP32: WeightFormat = { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };

export interface Fp32VsReference {
  spec: ModelSpec;
  weights: Weights;
  session: ExportSessions;
  reference: ReferenceResult;
  onnxLogits: Float32Array[];
}

/** Exports `checkpoint` in fp32 into `outDir` and runs `prompt` through the export and through the float64 reference. */
export async function fp32VsReference(checkpoint: string, outDir: string, label: string, prompt: number[], attention: AttentionKernel = 'ops'): Promise<Fp32VsReference> {
  await exportModel({ checkpointDir: checkpoint, outDir, format: { ...FP32, attention }, label });
  const { spec, weights } = await loadReferenceWeights(checkpoint);
  const session = await loadSession(outDir);
  return { spec, weights, session, reference: referenceForward(spec.config, weights, prompt), onnxLogits: await promptLogits(session, spec, prompt) };
}
