/**
 * How much of a decode step is the weights kernel: every `MatMulNBits` of an export's
 * graphs, with the same weights (the export's own data file) and session settings, run
 * on its own for one token (each node reads a graph input, so nothing else runs), timed
 * against the export's whole decode step, in alternating bursts. Prints milliseconds per
 * token of both, the bytes the kernels stream (onnxruntime's prepacked layout:
 * docs/quantization.md) and the rate.
 *
 *   node dist/bench/kernel-only.js <export> [-r 8] [-n 24] [--threads 2]
 */
import * as ort from 'onnxruntime-node';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { IR_VERSION, onnx, OPSETS, valueInfo, type NodeProto, type TensorProto } from '../src/onnx/proto.js';
import { readExport, sessionOptions } from '../src/runtime/model-session.js';
import { loadEngine } from '../src/runtime/runtime.js';
import { argmax } from '../src/runtime/sampler.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const attr = (n: NodeProto, name: string): number => Number(n.attribute?.find((a) => a.name === name)?.i ?? 0);

/** Bits per weight that the level-4 CPU kernel streams: codes, plus an fp32 scale and an fp32 block sum per block. */
const streamedBits = (bits: number, block: number): number => bits + 64 / block;

interface KernelGraph {
  model: Uint8Array;
  inputs: Map<string, number>;
  bytesPerToken: number;
  nodes: number;
}

/** The MatMulNBits nodes of every stage, each fed from an input `x<K>` of one token. */
async function kernelGraph(dir: string, files: string[]): Promise<KernelGraph> {
  const nodes: NodeProto[] = [];
  const initializers = new Map<string, TensorProto>();
  const inputs = new Map<string, number>();
  let bytesPerToken = 0;
  for (const file of files) {
    const graph = onnx.ModelProto.decode(await readFile(join(dir, file))).graph!;
    const byName = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
    for (const n of graph.node ?? []) {
      if (n.opType !== 'MatMulNBits') continue;
      const k = attr(n, 'K');
      inputs.set(`x${k}`, k);
      nodes.push({ ...n, input: [`x${k}`, ...(n.input ?? []).slice(1)], output: [`${n.name}.out`] });
      for (const w of (n.input ?? []).slice(1)) initializers.set(w, byName.get(w)!);
      bytesPerToken += (attr(n, 'N') * k * streamedBits(attr(n, 'bits'), attr(n, 'block_size'))) / 8;
    }
  }
  const model = onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: IR_VERSION, producerName: 'gemma kernel-only bench', opsetImport: OPSETS,
    graph: {
      name: 'matmulnbits-only', node: nodes, initializer: [...initializers.values()],
      input: [...inputs].map(([name, k]) => valueInfo(name, 'float32', [1, k])),
      output: nodes.map((n) => valueInfo(n.output![0]!, 'float32', [1, attr(n, 'N')])),
    },
  })).finish();
  return { model, inputs, bytesPerToken, nodes: nodes.length };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { r: { type: 'string', default: '8' }, n: { type: 'string', default: '24' }, threads: { type: 'string', default: '2' } },
  });
  if (positionals.length !== 1) throw new Error('usage: kernel-only <export> [-r 8] [-n 24] [--threads 2]');
  const dir = resolve(positionals[0]!);
  const threads = Number(values.threads);
  const steps = Number(values.n);
  const info = await readExport(dir);
  const kernels = await kernelGraph(dir, info.manifest.stages.map((s) => s.file));
  // onnxruntime reads external data only from the model's own folder (links resolved), so
  // the graph goes beside the export's data file for the run, and is removed after it.
  const graphFile = join(dir, `.kernel-only-${process.pid}.onnx`);
  try {
    await writeFile(graphFile, kernels.model);
    const session = await ort.InferenceSession.create(graphFile, sessionOptions('cpu', threads, undefined));
    const engine = await loadEngine(dir, { threads, ctxSize: 4096 });
    const feeds = Object.fromEntries([...kernels.inputs].map(([name, k]) => [name, new ort.Tensor('float32', Float32Array.from({ length: k }, (_, i) => Math.sin(i)), [1, k])]));
    await engine.feed([2, 1000, 1001, 1002]);
    const kernelMs: number[] = [];
    const stepMs: number[] = [];
    for (let round = 0; round < Number(values.r); round++) {
      let started = performance.now();
      for (let i = 0; i < steps; i++) await session.run(feeds);
      kernelMs.push((performance.now() - started) / steps);
      engine.rollback(4);
      let id = 1234;
      started = performance.now();
      for (let i = 0; i < steps; i++) id = argmax((await engine.feed([id]))[0]!);
      stepMs.push((performance.now() - started) / steps);
    }
    const [kernel, step] = [median(kernelMs), median(stepMs)];
    process.stdout.write(`${dir}, ${threads} thread(s), medians of ${values.r} rounds of ${steps} tokens\n`);
    process.stdout.write(`| what | ms per token | rounds |\n|---|---|---|\n`);
    process.stdout.write(`| ${kernels.nodes} MatMulNBits alone (${(kernels.bytesPerToken / 1e9).toFixed(2)} GB streamed, ${(kernels.bytesPerToken / kernel / 1e6).toFixed(1)} GB/s) | ${kernel.toFixed(2)} | ${kernelMs.map((m) => m.toFixed(1)).join(' ')} |\n`);
    process.stdout.write(`| the whole decode step | ${step.toFixed(2)} | ${stepMs.map((m) => m.toFixed(1)).join(' ')} |\n`);
    process.stdout.write(`| everything else (${((100 * (step - kernel)) / step).toFixed(1)} % of the step) | ${(step - kernel).toFixed(2)} | |\n`);
    await Promise.all([session.release(), engine.close()]);
  } finally {
    await rm(graphFile, { force: true });
  }
}

await main();
