/**
 * Is the GGUF the same model? A tiny random Gemma 2 whose sliding window (8) and attention soft-cap (4) bind on a
 * 24-token prompt is exported to ONNX fp32 (our reference) and converted to GGUF; llama.cpp's logits at every prompt
 * position and a 32-token greedy continuation are compared with the ONNX runtime's. An F32 GGUF isolates conversion
 * mistakes (norm +1, embedding scale, soft-caps, window parity, tied head) from quantization error; Q8_0 / Q4_0 and
 * our own int8 / int4 exports show how large quantization error is next to it.
 * query_pre_attn_scalar is set to head_dim because llama.cpp ignores that field for gemma2 (it uses head_dim^-0.5).
 *
 *   node dist/bench/peer-logits.js [--dir bench/out] [--peer-dir bench/out/peer]
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateRandomCheckpoint } from '../src/checkpoint/random-checkpoint.js';
import { exportModel } from '../src/export/export.js';
import { defaultLayout, variantName, type WeightFormat } from '../src/quantize/precision.js';
import { loadEngine } from '../src/runtime/runtime.js';
import { argmax } from '../src/runtime/sampler.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { logitError } from '../test/helpers/logit-error.js';
import { BINDING_CONFIG, BINDING_OPTIONS, PROMPT } from '../test/helpers/models.js';
import { convertToGguf, type FileType } from './gguf-from-checkpoint.js';
import { loadPeer, peerLogits, type PeerLlama } from './peer-runtime.js';

const CONFIG = { ...BINDING_CONFIG, query_pre_attn_scalar: BINDING_CONFIG.head_dim };
const STEPS = 32;
const VOCAB = CONFIG.vocab_size;

interface Run {
  prompt: Float32Array[];
  greedy: number[];
}

/** The fp32 reference, then `gemma quantize`'s int8 and int4 defaults, and int4 in Q4_0's own layout (symmetric blocks of 32). */
const FORMATS: WeightFormat[] = [
  { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' },
  ...(['int8', 'int4'] as const).map((precision): WeightFormat => ({ precision, ...defaultLayout(precision, 'cpu'), accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' })),
  { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' },
];

async function runOnnx(dir: string): Promise<Run> {
  const engine = await loadEngine(dir, { threads: 1, ep: 'cpu', ctxSize: CONFIG.max_position_embeddings, prefillChunk: 512 });
  try {
    const prompt = (await engine.feed(PROMPT, true)).map((l) => l.slice());
    const greedy = [argmax(prompt[prompt.length - 1]!)];
    while (greedy.length < STEPS) greedy.push(argmax((await engine.feed([greedy[greedy.length - 1]!]))[0]!));
    return { prompt, greedy };
  } finally {
    await engine.close();
  }
}

async function runLlama(llama: PeerLlama, path: string, flashAttention: boolean): Promise<Run> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    const context = await model.createContext({ contextSize: CONFIG.max_position_embeddings, batchSize: 64, threads: 1, sequences: 1, flashAttention });
    const seq = context.getSequence();
    const prompt = await peerLogits(seq, PROMPT, VOCAB, true);
    const greedy = [argmax(prompt[prompt.length - 1]!)];
    while (greedy.length < STEPS) greedy.push(argmax((await peerLogits(seq, [greedy[greedy.length - 1]!], VOCAB, false))[0]!));
    await context.dispose();
    return { prompt, greedy };
  } finally {
    await model.dispose();
  }
}

const agreement = (a: number[], b: number[]): number => {
  const i = a.findIndex((id, k) => id !== b[k]);
  return i === -1 ? a.length : i;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: join(PACKAGE_ROOT, 'bench', 'out') },
      'peer-dir': { type: 'string', default: join(PACKAGE_ROOT, 'bench', 'out', 'peer') },
    },
  });
  const root = join(resolve(values.dir), 'peer-logits');
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const checkpoint = join(root, 'checkpoint');
  await generateRandomCheckpoint(checkpoint, { ...BINDING_OPTIONS, config: CONFIG });
  const llama = await loadPeer(resolve(values['peer-dir']));
  const runs: Array<[string, Run]> = [];
  for (const format of FORMATS) {
    const out = join(root, `onnx-${variantName(format)}`);
    await exportModel({ checkpointDir: checkpoint, outDir: out, format, label: 'peer-logits (random weights)' });
    runs.push([`ONNX ${variantName(format)} (onnxruntime)`, await runOnnx(out)]);
  }
  // The benchmark runs with flash attention on (llama-bench's default on CPU), so check both attention paths.
  for (const [type, fa] of [['f32', false], ['f32', true], ['q8_0', true], ['q4_0', true]] as Array<[FileType, boolean]>) {
    const r = await convertToGguf(checkpoint, join(root, `model-${type}.gguf`), type);
    runs.push([`GGUF ${type.toUpperCase()} (llama.cpp, token_embd ${r.embdType}, fa ${fa ? 'on' : 'off'})`, await runLlama(llama, r.path, fa)]);
  }
  const reference = runs[0]![1];
  const want = reference.prompt.map((l) => Float64Array.from(l));
  const lines = [
    `Tiny binding Gemma 2 (window ${CONFIG.sliding_window}, attention cap ${CONFIG.attn_logit_softcapping}, final cap ${CONFIG.final_logit_softcapping}), ` +
      `${PROMPT.length}-token prompt, logits at every position vs the ONNX fp32 export:`,
    '',
    '| model | max abs Δlogit | mean abs Δlogit | top-1 agreement | KL (nats) | greedy tokens equal (of 32) |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, run] of runs.slice(1)) {
    const e = logitError(run.prompt, want);
    lines.push(`| ${name} | ${e.maxAbs.toFixed(4)} | ${e.meanAbs.toFixed(5)} | ${e.top1.toFixed(3)} | ${e.kl.toExponential(2)} | ${agreement(run.greedy, reference.greedy)} |`);
  }
  lines.push('', `Logit range: ±${logitError(reference.prompt, want).range.toFixed(2)}.`, '');
  process.stdout.write(lines.join('\n'));
}

await main();
