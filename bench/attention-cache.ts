/**
 * Kernel-level cost of reading the KV cache at decode, as the exported graph reads it:
 * per KV head, scores = Gemm(q [group, head_dim], cached keys [P, head_dim], transB),
 * softmax, then MatMul(probs, cached values). 2B shapes (26 layers × 4 KV heads × 256,
 * group 2), one fresh cache per layer so nothing stays in the CPU caches. Alternative
 * layouts are timed beside it: keys as Gemm's streamed A operand (scores transposed), and
 * one query row at a time (M = 1 kernels).
 *
 *   node dist/bench/attention-cache.js [--depth 4096] [--threads 2] [-r 5]
 */
import * as ort from 'onnxruntime-node';
import { parseArgs } from 'node:util';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { int } from '../src/onnx/proto.js';

const HEAD_DIM = 256;
const GROUP = 2;
const KV_HEADS = 4;
const LAYERS = 26;
const LAYOUTS = ['graph', 'keys-streamed', 'per-query-row'] as const;
type Layout = (typeof LAYOUTS)[number];

function head(g: GraphBuilder, layout: Layout, h: number): string {
  const [k, v] = [`k${h}`, `v${h}`];
  if (layout === 'graph') {
    const probs = g.op('Softmax', `p${h}`, [g.op('Gemm', `s${h}`, ['q', k], { attrs: { transB: int(1) } })], { attrs: { axis: int(-1) } });
    return g.op('MatMul', `o${h}`, [probs, v]);
  }
  if (layout === 'keys-streamed') {
    const probs = g.op('Softmax', `p${h}`, [g.op('Gemm', `s${h}`, [k, 'q'], { attrs: { transB: int(1) } })], { attrs: { axis: int(0) } });
    return g.op('Gemm', `o${h}`, [probs, v], { attrs: { transA: int(1) } });
  }
  const rows = g.node('Split', `q${h}`, ['q'], { attrs: { axis: int(0), num_outputs: int(GROUP) }, outputs: Array.from({ length: GROUP }, (_, j) => `q${h}_${j}`) });
  const outs = rows.map((row, j) => {
    const probs = g.op('Softmax', `p${h}_${j}`, [g.op('Gemm', `s${h}_${j}`, [row, k], { attrs: { transB: int(1) } })], { attrs: { axis: int(-1) } });
    return g.op('MatMul', `o${h}_${j}`, [probs, v]);
  });
  return g.op('Concat', `o${h}`, outs, { attrs: { axis: int(0) } });
}

function model(layout: Layout, depth: number): Uint8Array {
  const g = new GraphBuilder();
  g.input('q', 'float32', [GROUP, HEAD_DIM]);
  const outs: string[] = [];
  for (let h = 0; h < KV_HEADS; h++) {
    g.input(`k${h}`, 'float32', [depth, HEAD_DIM]);
    g.input(`v${h}`, 'float32', [depth, HEAD_DIM]);
    outs.push(head(g, layout, h));
  }
  g.node('Concat', 'context', outs, { attrs: { axis: int(0) }, outputs: ['y'] });
  g.output('y', 'float32', [KV_HEADS * GROUP, HEAD_DIM]);
  return g.serialize('attention-cache', '0', {});
}

const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() - 0.5);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { depth: { type: 'string', default: '4096' }, threads: { type: 'string', default: '2' }, r: { type: 'string', default: '5' } } });
  const depth = Number(values.depth);
  const threads = Number(values.threads);
  const q = new ort.Tensor('float32', random(GROUP * HEAD_DIM), [GROUP, HEAD_DIM]);
  const layers = Array.from({ length: LAYERS }, () => Object.fromEntries(
    Array.from({ length: KV_HEADS }, (_, h) => [[`k${h}`, new ort.Tensor('float32', random(depth * HEAD_DIM), [depth, HEAD_DIM])], [`v${h}`, new ort.Tensor('float32', random(depth * HEAD_DIM), [depth, HEAD_DIM])]]).flat(),
  ));
  const gb = (LAYERS * KV_HEADS * 2 * depth * HEAD_DIM * 4) / 1e9;
  process.stdout.write(`depth ${depth}, ${threads} thread(s): ${gb.toFixed(2)} GB of fp32 cache read per decoded token\n\n| layout | ms per token (median) | GB/s |\n|---|---|---|\n`);
  for (const layout of LAYOUTS) {
    const session = await ort.InferenceSession.create(model(layout, depth), { intraOpNumThreads: threads, extra: { session: { intra_op: { allow_spinning: threads === 1 ? '1' : '0' } } } });
    const times: number[] = [];
    for (let rep = 0; rep <= Number(values.r); rep++) {
      const started = performance.now();
      for (const cache of layers) await session.run({ q, ...cache });
      if (rep > 0) times.push(performance.now() - started);
    }
    await session.release();
    const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    process.stdout.write(`| ${layout} | ${median.toFixed(1)} | ${(gb / (median / 1000)).toFixed(1)} |\n`);
  }
}

await main();
