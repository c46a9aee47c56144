/**
 * Kernel-level cost of reading the KV cache, as the exported graph reads it (`batched`,
 * graph contract 3): scores = FusedMatMul(q [kv_heads, rows, head_dim], keys [kv_heads, P,
 * head_dim], transB), softmax, then the context transposed = FusedMatMul(values transposed
 * [kv_heads, head_dim, P], probs, transB). 2B shapes (26 layers × 4 KV heads × 256), one
 * fresh cache per layer so nothing stays in the CPU caches. Timed beside it: the same with
 * the scores computed transposed (keys as the streamed operand); contract 2's per KV head
 * Gemm(q, keys [P, head_dim], transB) and MatMul(probs, values) (`graph`, the reference
 * every other output is checked against); per head with the keys as Gemm's streamed A
 * operand; and, for one decoded token only, one query row at a time (M = 1 kernels) and an
 * 8-bit cache read by MatMulInteger (codes with zero point 128 and one fp32 scale per row;
 * queries and probabilities quantized per row in the graph), the only integer matrix
 * product onnxruntime's CPU EP offers for two runtime inputs.
 *
 *   node dist/bench/attention-cache.js [--depth 4096] [--rows 2] [--threads 2] [-r 5]
 *
 * --rows: query rows per KV head (2 = one decoded token; 1024 = a 512-token prompt chunk).
 */
import * as ort from 'onnxruntime-node';
import { parseArgs } from 'node:util';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { int, ints } from '../src/onnx/proto.js';

const HEAD_DIM = 256;
const GROUP = 2;
const KV_HEADS = 4;
const LAYERS = 26;
const LAYOUTS = ['graph', 'batched', 'batched-keys-streamed', 'keys-streamed', 'per-query-row', 'int8-cache'] as const;
/** Layouts written for one decoded token's query rows only. */
const DECODE_ONLY: readonly Layout[] = ['per-query-row', 'int8-cache'];
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

/** Per-row int8 codes (zero point 128) and scales of x [rows, cols]: max |x| / 127 per row. */
function quantizeRowsInGraph(g: GraphBuilder, name: string, x: string, levels: number): { codes: string; scales: string } {
  const max = g.op('ReduceMax', `${name}.max`, [g.op('Abs', `${name}.abs`, [x]), 'axis1'], { attrs: { keepdims: int(0) } });
  const scales = g.op('Mul', `${name}.scales`, [max, g.constant(`${name}.inv`, 'float32', [], [1 / levels])]);
  return { codes: g.op('QuantizeLinear', `${name}.codes`, [x, scales, `zp.${name}`], { attrs: { axis: int(0) } }), scales };
}

/**
 * scoresᵀ [P, group] = MatMulInteger(keys [P, d], qᵀ [d, group]) · key scale per row · query scale per column;
 * softmax over P; the value scales are folded into the probabilities, which are quantized per row (zero point 0)
 * for MatMulInteger(probs [group, P], values [P, d]). MatMulInteger takes scalar zero points only.
 */
function int8Head(g: GraphBuilder, h: number, q: { codes: string; scales: string }): string {
  const qT = g.op('Transpose', `qT${h}`, [q.codes], { attrs: { perm: ints([1, 0]) } });
  const scoresInt = g.op('MatMulInteger', `si${h}`, [`k${h}`, qT, 'zp128', 'zp128']);
  const keyScaled = g.op('Mul', `sk${h}`, [g.op('Cast', `sf${h}`, [scoresInt], { attrs: { to: int(1) } }), `ks${h}`]);
  const scores = g.op('Mul', `s${h}`, [keyScaled, g.op('Unsqueeze', `qs${h}`, [q.scales, 'axis0'])]);
  const probs = g.op('Softmax', `p${h}`, [scores], { attrs: { axis: int(0) } });
  const weighted = g.op('Transpose', `pT${h}`, [g.op('Mul', `pv${h}`, [probs, `vs${h}`])], { attrs: { perm: ints([1, 0]) } });
  const p = quantizeRowsInGraph(g, `p${h}`, weighted, 255);
  const outInt = g.op('MatMulInteger', `oi${h}`, [p.codes, `v${h}`, 'zp0', 'zp128']);
  return g.op('Mul', `o${h}`, [g.op('Cast', `of${h}`, [outInt], { attrs: { to: int(1) } }), g.op('Unsqueeze', `ps${h}`, [p.scales, 'axis1'])]);
}

/** Zero points travel as inputs: this bench's GraphBuilder constants are int64 and float only. */
const INT8_ZERO_POINTS = ['zp128', 'zp0', 'zp.q', ...Array.from({ length: KV_HEADS }, (_, h) => `zp.p${h}`)];

function int8Inputs(g: GraphBuilder, depth: number): { codes: string; scales: string } {
  g.input('zp128', 'uint8', []);
  g.input('zp0', 'uint8', []);
  for (const zp of INT8_ZERO_POINTS.slice(2)) g.input(zp, 'uint8', [GROUP]);
  g.constant('axis0', 'int64', [1], [0]);
  g.constant('axis1', 'int64', [1], [1]);
  for (let h = 0; h < KV_HEADS; h++) {
    for (const kv of ['k', 'v']) {
      g.input(`${kv}${h}`, 'uint8', [depth, HEAD_DIM]);
      g.input(`${kv}s${h}`, 'float32', [depth, 1]);
    }
  }
  return quantizeRowsInGraph(g, 'q', 'q', 127);
}

/**
 * Contract 3's reading of one layer for `rows` query rows per KV head, its output re-laid as
 * [kv_heads · rows, head_dim] to compare with the others. With `keysStreamed`, the scores are
 * computed transposed (the keys as the streamed operand) and then transposed back.
 */
function batched(g: GraphBuilder, depth: number, rows: number, keysStreamed: boolean): void {
  g.input('keys', 'float32', [KV_HEADS, depth, HEAD_DIM]);
  g.input('values', 'float32', [KV_HEADS, HEAD_DIM, depth]);
  const q = g.op('Expand', 'q_heads', ['q', g.constant('q_heads_shape', 'int64', [3], [KV_HEADS, rows, HEAD_DIM])]);
  const transB = (name: string, a: string, b: string): string => g.op('FusedMatMul', name, [a, b], { domain: 'com.microsoft', attrs: { transB: int(1) } });
  const scores = keysStreamed ? g.op('Transpose', 's', [transB('sT', 'keys', q)], { attrs: { perm: ints([0, 2, 1]) } }) : transB('s', q, 'keys');
  const probs = g.op('Softmax', 'p', [scores], { attrs: { axis: int(-1) } });
  const context = g.op('Transpose', 'o_rows', [transB('o', 'values', probs)], { attrs: { perm: ints([0, 2, 1]) } });
  g.node('Reshape', 'context', [context, g.constant('context_shape', 'int64', [2], [KV_HEADS * rows, HEAD_DIM])], { outputs: ['y'] });
}

function model(layout: Layout, depth: number, rows: number): Uint8Array {
  const g = new GraphBuilder();
  g.input('q', 'float32', [rows, HEAD_DIM]);
  if (layout === 'batched' || layout === 'batched-keys-streamed') {
    batched(g, depth, rows, layout === 'batched-keys-streamed');
    g.output('y', 'float32', [KV_HEADS * rows, HEAD_DIM]);
    return g.serialize('attention-cache', '0', {});
  }
  const outs: string[] = [];
  const q = layout === 'int8-cache' ? int8Inputs(g, depth) : undefined;
  for (let h = 0; h < KV_HEADS; h++) {
    if (q !== undefined) {
      outs.push(int8Head(g, h, q));
      continue;
    }
    g.input(`k${h}`, 'float32', [depth, HEAD_DIM]);
    g.input(`v${h}`, 'float32', [depth, HEAD_DIM]);
    outs.push(head(g, layout, h));
  }
  g.node('Concat', 'context', outs, { attrs: { axis: int(0) }, outputs: ['y'] });
  g.output('y', 'float32', [KV_HEADS * rows, HEAD_DIM]);
  return g.serialize('attention-cache', '0', {});
}

const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() - 0.5);
type Feeds = Record<string, ort.Tensor>;

function fp32Cache(depth: number): Feeds {
  return Object.fromEntries(Array.from({ length: KV_HEADS }, (_, h) => ['k', 'v'].map((kv) => [`${kv}${h}`, new ort.Tensor('float32', random(depth * HEAD_DIM), [depth, HEAD_DIM])])).flat());
}

/** The same rows as uint8 codes around 128 with one scale per row (max |x| / 127), as the int8 layout reads them. */
function quantizeCache(rows: ort.Tensor): [ort.Tensor, ort.Tensor] {
  const x = rows.data as Float32Array;
  const count = x.length / HEAD_DIM;
  const codes = new Uint8Array(x.length);
  const scales = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    let max = 0;
    for (let i = r * HEAD_DIM; i < (r + 1) * HEAD_DIM; i++) max = Math.max(max, Math.abs(x[i]!));
    scales[r] = max / 127;
    for (let i = r * HEAD_DIM; i < (r + 1) * HEAD_DIM; i++) codes[i] = 128 + Math.round(x[i]! / scales[r]!);
  }
  return [new ort.Tensor('uint8', codes, [count, HEAD_DIM]), new ort.Tensor('float32', scales, [count, 1])];
}

/** The same rows in contract 3's layouts: keys [kv_heads, P, head_dim], values [kv_heads, head_dim, P]. */
function batchedCache(fp32: Feeds): Feeds {
  const depth = fp32.k0!.dims[0]!;
  const keys = new Float32Array(KV_HEADS * depth * HEAD_DIM);
  const values = new Float32Array(KV_HEADS * depth * HEAD_DIM);
  for (let h = 0; h < KV_HEADS; h++) {
    keys.set(fp32[`k${h}`]!.data as Float32Array, h * depth * HEAD_DIM);
    const v = fp32[`v${h}`]!.data as Float32Array;
    for (let r = 0; r < depth; r++) for (let d = 0; d < HEAD_DIM; d++) values[(h * HEAD_DIM + d) * depth + r] = v[r * HEAD_DIM + d]!;
  }
  return { keys: new ort.Tensor('float32', keys, [KV_HEADS, depth, HEAD_DIM]), values: new ort.Tensor('float32', values, [KV_HEADS, HEAD_DIM, depth]) };
}

function int8Cache(fp32: Feeds): Feeds {
  const zeroPoint = (value: number, n: number): ort.Tensor => new ort.Tensor('uint8', new Uint8Array(n).fill(value), n === 1 ? [] : [n]);
  return Object.fromEntries([
    ...Array.from({ length: KV_HEADS }, (_, h) => ['k', 'v'].flatMap((kv) => {
      const [codes, scales] = quantizeCache(fp32[`${kv}${h}`]!);
      return [[`${kv}${h}`, codes], [`${kv}s${h}`, scales]];
    })).flat(),
    ['zp128', zeroPoint(128, 1)], ['zp0', zeroPoint(0, 1)], ['zp.q', zeroPoint(128, GROUP)],
    ...Array.from({ length: KV_HEADS }, (_, h) => [`zp.p${h}`, zeroPoint(0, GROUP)]),
  ]);
}

/** Runs every layer's cache `r` + 1 times (the first untimed) and returns the median ms per token and the last layer's output. */
async function time(layout: Layout, depth: number, rows: number, threads: number, layers: Feeds[], q: ort.Tensor, r: number): Promise<{ ms: number; y: Float32Array }> {
  const session = await ort.InferenceSession.create(model(layout, depth, rows), { intraOpNumThreads: threads, extra: { session: { intra_op: { allow_spinning: threads === 1 ? '1' : '0' } } } });
  const times: number[] = [];
  let y: Float32Array = new Float32Array();
  for (let rep = 0; rep <= r; rep++) {
    const started = performance.now();
    for (const cache of layers) y = (await session.run({ q, ...cache })).y!.data as Float32Array;
    if (rep > 0) times.push(performance.now() - started);
  }
  await session.release();
  return { ms: times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!, y };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { depth: { type: 'string', default: '4096' }, rows: { type: 'string', default: String(GROUP) }, threads: { type: 'string', default: '2' }, r: { type: 'string', default: '5' } } });
  const depth = Number(values.depth);
  const rows = Number(values.rows);
  const threads = Number(values.threads);
  const q = new ort.Tensor('float32', random(rows * HEAD_DIM), [rows, HEAD_DIM]);
  const elements = LAYERS * KV_HEADS * 2 * depth * HEAD_DIM;
  process.stdout.write(`depth ${depth}, ${rows} query rows per KV head, ${threads} thread(s): ${(elements / 1e9).toFixed(3)} G cached elements read per run\n\n| layout | cache GB | ms per run (median) | GB/s |\n|---|---|---|---|\n`);
  const fp32 = Array.from({ length: LAYERS }, () => fp32Cache(depth));
  const batchedLayout = fp32.map(batchedCache);
  const caches: Record<Layout, () => Feeds[]> = {
    graph: () => fp32, batched: () => batchedLayout, 'batched-keys-streamed': () => batchedLayout,
    'keys-streamed': () => fp32, 'per-query-row': () => fp32, 'int8-cache': () => fp32.map(int8Cache),
  };
  let reference: Float32Array = new Float32Array();
  const errors: string[] = [];
  for (const layout of LAYOUTS.filter((l) => rows === GROUP || !DECODE_ONLY.includes(l))) {
    const gb = (elements * (layout === 'int8-cache' ? 1 : 4)) / 1e9;
    const { ms, y } = await time(layout, depth, rows, threads, caches[layout](), q, Number(values.r));
    if (layout === 'graph') reference = y;
    else {
      const error = y.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0) / reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      errors.push(`${layout} against the per-head graph on the same cache (last layer): max |Δ| = ${(error * 100).toFixed(2)} % of max |output|`);
    }
    process.stdout.write(`| ${layout} | ${gb.toFixed(2)} | ${ms.toFixed(1)} | ${(gb / (ms / 1000)).toFixed(1)} |\n`);
  }
  process.stdout.write(`\n${errors.join('\n')}\n`);
}

await main();
