/**
 * The CUDA graph's numerics on a GPU: a tiny random Gemma 2 whose sliding window (8) and
 * attention soft-cap (4) bind, exported int4 for CUDA, run by the CUDA EP and compared with
 * the same graph on the CPU EP and with the fp32 CPU export, over a prompt three windows
 * long and a greedy continuation, one step per run and in one run of the decode loop
 * (decode-loop.onnx), for each attention kernel (ops, then GroupQueryAttention). Exits 1 when
 * the CUDA EP strays from the CPU EP, or the loop's 32 greedy tokens on CUDA from the CPU EP's
 * step by step, for either kernel.
 *
 *   node dist/bench/cuda-logits.js [--dir bench/out]
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateRandomCheckpoint } from '../src/checkpoint/random-checkpoint.js';
import { exportModel } from '../src/export/export.js';
import { ATTENTION_KERNELS, type AttentionKernel, type ExecutionProvider, type WeightFormat } from '../src/quantize/precision.js';
import { loadEngine } from '../src/runtime/runtime.js';
import { argmax, GREEDY } from '../src/runtime/sampler.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { logitError, type LogitError } from '../test/helpers/logit-error.js';
import { BINDING_CONFIG, BINDING_OPTIONS, PROMPT } from '../test/helpers/models.js';

/** fp16 on both EPs, but different kernels and accumulation orders: logits span ±30. */
const MAX_EP_DIFFERENCE = 0.1;
const STEPS = 32;
const int4: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cuda', attention: 'ops' };
const fp32: WeightFormat = { ...int4, precision: 'fp32', ep: 'cpu' };

interface Run {
  prompt: Float32Array[];
  greedy: number[];
  ms: number;
  /** The same continuation from one run of the decode loop. */
  loopGreedy: number[];
  loopMs: number;
}

/**
 * The prompt's logits at every position and a greedy continuation one step per run (model.onnx), then the same
 * continuation from one run of the decode loop (decode-loop.onnx, loaded on its own: it returns the last position's
 * logits only, so it cannot give the prompt's).
 */
async function runOn(dir: string, ep: ExecutionProvider): Promise<Run> {
  const options = { threads: 1, ep, ctxSize: BINDING_CONFIG.max_position_embeddings, prefillChunk: 512 };
  const steps = await loadEngine(dir, options);
  let prompt: Float32Array[];
  const greedy: number[] = [];
  let ms: number;
  try {
    const started = performance.now();
    prompt = (await steps.feed(PROMPT, true)).map((l) => l.slice());
    greedy.push(argmax(prompt[prompt.length - 1]!));
    while (greedy.length < STEPS) greedy.push(argmax((await steps.feed([greedy[greedy.length - 1]!]))[0]!));
    ms = performance.now() - started;
  } finally {
    await steps.close();
  }
  const loop = await loadEngine(dir, { ...options, decodeSteps: STEPS });
  try {
    await loop.feed(PROMPT);
    const loopStarted = performance.now();
    const loopGreedy = [greedy[0]!, ...(await loop.decode(greedy[0]!, STEPS - 1, { sampling: GREEDY, stopIds: [], draws: new Float64Array(STEPS - 1) }))];
    return { prompt, greedy, ms, loopGreedy, loopMs: performance.now() - loopStarted };
  } finally {
    await loop.close();
  }
}

const row = (what: string, e: LogitError): string => `| ${what} | ${e.maxAbs.toFixed(4)} | ${e.meanAbs.toFixed(5)} | ${e.top1.toFixed(3)} |`;
const asReference = (logits: Float32Array[]): Float64Array[] => logits.map((l) => Float64Array.from(l));
const agreement = (a: number[], b: number[]): number => a.findIndex((id, i) => id !== b[i]) === -1 ? a.length : a.findIndex((id, i) => id !== b[i]);

/** One kernel's CUDA graph on the CUDA EP against the same graph on the CPU EP and the fp32 export; false where it strays. */
async function checkKernel(root: string, attention: AttentionKernel, exact: Run): Promise<boolean> {
  const dir = join(root, `cuda-${attention}`);
  const onCuda = await runOn(dir, 'cuda');
  const onCpu = await runOn(dir, 'cpu');
  const epError = logitError(onCuda.prompt, asReference(onCpu.prompt));
  process.stdout.write([
    `**${attention} attention.** Tiny binding model (window ${BINDING_CONFIG.sliding_window}, attention cap ${BINDING_CONFIG.attn_logit_softcapping}), ${PROMPT.length}-token prompt, all positions:`,
    '',
    '| int4 CUDA graph on the CUDA EP vs | max abs Δlogit | mean abs Δlogit | top-1 agreement |',
    '|---|---|---|---|',
    row('the same graph on the CPU EP', epError),
    row('the fp32 CPU export (int4 + fp16 error)', logitError(onCuda.prompt, asReference(exact.prompt))),
    '',
    `Greedy continuation: the first ${agreement(onCuda.greedy, onCpu.greedy)} of ${STEPS} tokens equal the CPU EP's, the first ${agreement(onCuda.greedy, exact.greedy)} the fp32 export's.`,
    `Decode loop on CUDA (${STEPS - 1} steps in one run, ${onCuda.loopMs.toFixed(0)} ms; step by step ${onCuda.ms.toFixed(0)} ms with the prompt): the first ${agreement(onCuda.loopGreedy, onCpu.greedy)} of ${STEPS} tokens equal the CPU EP's step by step, the first ${agreement(onCuda.loopGreedy, onCuda.greedy)} CUDA's step by step.`,
    '',
    '',
  ].join('\n'));
  return epError.maxAbs < MAX_EP_DIFFERENCE && agreement(onCuda.loopGreedy, onCpu.greedy) === STEPS;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string', default: join(PACKAGE_ROOT, 'bench', 'out') } } });
  const root = join(resolve(values.dir), 'cuda-logits');
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const checkpoint = join(root, 'checkpoint');
  await generateRandomCheckpoint(checkpoint, { ...BINDING_OPTIONS, config: BINDING_CONFIG });
  const formats: [string, WeightFormat][] = [['fp32', fp32], ...ATTENTION_KERNELS.map((attention): [string, WeightFormat] => [`cuda-${attention}`, { ...int4, attention }])];
  for (const [name, format] of formats) {
    await exportModel({ checkpointDir: checkpoint, outDir: join(root, name), format, label: 'cuda-logits (random weights)', stages: 1 });
  }
  const exact = await runOn(join(root, 'fp32'), 'cpu');
  let ok = true;
  for (const attention of ATTENTION_KERNELS) ok = (await checkKernel(root, attention, exact)) && ok;
  process.stdout.write(`Tolerance: max abs Δlogit between the EPs < ${MAX_EP_DIFFERENCE}; the loop's ${STEPS} greedy tokens on CUDA equal the CPU EP's.\n`);
  if (!ok) process.exitCode = 1;
}

await main();
