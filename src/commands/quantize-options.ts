import { ATTENTION_KERNELS, DEFAULT_ATTENTION, EXECUTION_PROVIDERS, PRECISIONS, SCHEMES } from '../quantize/precision.js';
import { choice, flag, inRange, optionalChoice, optionalNumber, powerOfTwo, text } from './option-defs.js';

/** Keys are the camelCase names commander derives from the long flags. */
export const QUANTIZE_OPTIONS = {
  out: text('-o, --out <dir>', 'output folder (default: $GEMMA_HOME/models/<name>/<variant>)'),
  precision: choice('--precision <type>', 'weight precision: int4 and int8 are block-quantized (MatMulNBits), fp32 is the exactness reference', PRECISIONS, 'int4'),
  blockSize: optionalNumber('--block-size <n>', 'weights per quantization block along the input dimension (default: 64 for int4 on cpu, 32 for int4 on cuda, 128 for int8)', powerOfTwo(16, 256), true),
  scheme: optionalChoice('--scheme <scheme>', 'asymmetric stores a zero point per block, symmetric implies the middle code (default: asymmetric for int4 on cpu, symmetric otherwise)', SCHEMES),
  accuracyLevel: optionalNumber('--accuracy-level <n>', 'MatMulNBits accuracy_level: 4 quantizes activations to int8 inside the kernel (fast on CPU; int8 weights need it), 0 keeps them fp32 (default: 4 for cpu, 0 for cuda)', inRange(0, 4), true),
  ep: choice('--ep <provider>', 'execution provider the graph is built for: cpu (fp32 activations) or cuda (fp16 linear layers, attention and KV cache; fp32 residual stream, norms and logits)', EXECUTION_PROVIDERS, 'cpu'),
  attention: optionalChoice('--attention <kernel>', `how layers attend: ops writes attention as ONNX ops, gqa as onnxruntime's fused GroupQueryAttention kernel (default: ${DEFAULT_ATTENTION})`, ATTENTION_KERNELS),
  stages: optionalNumber('--stages <n>', 'graphs the layers are cut into, loaded in parallel by gemma run (default: 2 for cpu, 1 for cuda; 1 gives one self-contained model.onnx)', inRange(1, 1024), true),
  keepEmbeddings: flag('--keep-embeddings', 'keep the tied embedding / lm_head matrix in fp32 instead of quantizing it'),
  json: flag('--json', 'print one JSON object describing the export; no progress output'),
};
