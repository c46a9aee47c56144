/**
 * llama.cpp throughput on GGUF files, measured like llama-bench so `gemma bench` numbers can be reported as ratios
 * against it on the same weights, on the same machine, in the same session:
 *   pp512: 512 token ids evaluated as one batch into an empty context (logits for the last position only);
 *   tg128: 128 single-token decode steps from an empty context, each producing full logits (no sampling).
 * At depth d (-d), each run first fills the emptied context with d tokens, untimed, as llama-bench -d does.
 * One warm-up of each, then `-r` repetitions; mean ± sample standard deviation in tokens/s. Token ids are
 * pseudo-random (fixed seed), as llama-bench's are. llama.cpp runs through node-llama-cpp (bench/peer-runtime.ts).
 *
 *   node dist/bench/peer-llamacpp.js <model.gguf>... [--threads 2,1] [-r 3] [-p 512] [-n 128] [-d 0,4096] [--fa on|off] [--peer-dir bench/out/peer]
 */
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { loadPeer, PEER_VERSION, peerVocab, type ControlledItem, type PeerLlama, type PeerSequence } from './peer-runtime.js';

interface Options {
  models: string[];
  threads: number[];
  repetitions: number;
  prompt: number;
  gen: number;
  depths: number[];
  flashAttention: boolean;
  peerDir: string;
}

function options(): Options {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      threads: { type: 'string', default: '2' },
      r: { type: 'string', short: 'r', default: '3' },
      p: { type: 'string', short: 'p', default: '512' },
      n: { type: 'string', short: 'n', default: '128' },
      d: { type: 'string', short: 'd', default: '0' },
      // llama-bench's default is -fa auto, which the CPU backend resolves to on.
      fa: { type: 'string', default: 'on' },
      'peer-dir': { type: 'string', default: join(PACKAGE_ROOT, 'bench', 'out', 'peer') },
    },
  });
  if (positionals.length === 0) throw new Error('usage: peer-llamacpp <model.gguf>... [--threads 2,1] [-r 3] [-p 512] [-n 128] [-d 0] [--fa on|off]');
  return {
    models: positionals.map((m) => resolve(m)),
    threads: values.threads.split(',').map(Number),
    repetitions: Number(values.r),
    prompt: Number(values.p),
    gen: Number(values.n),
    depths: values.d.split(',').map(Number),
    flashAttention: values.fa !== 'off',
    peerDir: resolve(values['peer-dir']),
  };
}

/** Deterministic token ids in [4, vocab): skips pad/eos/bos/unk as llama-bench's random tokens effectively do. */
function tokenStream(seed: number, vocab: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 4 + (s % (vocab - 4));
  };
}

// Requesting one filtered logit still makes llama.cpp compute the whole output row, as llama-bench's decode does.
const withLogits = (t: number): ControlledItem => [t, { generateNext: { logits: { filter: { tokens: [0] } } } }];

/** Empties the sequence, then evaluates `depth` tokens in batches (untimed). */
async function fill(seq: PeerSequence, depth: number, next: () => number): Promise<void> {
  await seq.clearHistory();
  if (depth > 0) await seq.controlledEvaluate(Array.from({ length: depth }, next));
}

async function timePrompt(seq: PeerSequence, n: number, depth: number, next: () => number): Promise<number> {
  await fill(seq, depth, next);
  const items: ControlledItem[] = Array.from({ length: n }, (_, i) => (i === n - 1 ? withLogits(next()) : next()));
  const t0 = performance.now();
  await seq.controlledEvaluate(items);
  return n / ((performance.now() - t0) / 1000);
}

async function timeGen(seq: PeerSequence, n: number, depth: number, next: () => number): Promise<number> {
  await fill(seq, depth, next);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await seq.controlledEvaluate([withLogits(next())]);
  return n / ((performance.now() - t0) / 1000);
}

function meanSd(xs: number[]): string {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return `${mean.toFixed(2)} ± ${sd.toFixed(2)}`;
}

async function benchModel(llama: PeerLlama, path: string, threads: number, o: Options): Promise<string[]> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const rows: string[] = [];
  process.stderr.write(`${basename(path)}: node-llama-cpp's default flashAttention for it: ${String(model.defaultContextFlashAttention)}\n`);
  try {
    const context = await model.createContext({
      contextSize: Math.max(...o.depths) + o.prompt + o.gen + 64, batchSize: o.prompt, threads, sequences: 1, flashAttention: o.flashAttention,
    });
    const seq = context.getSequence();
    const next = tokenStream(42, peerVocab(model));
    for (const depth of o.depths) {
      const at = depth > 0 ? ` @ d${depth}` : '';
      for (const [test, run] of [[`pp${o.prompt}`, () => timePrompt(seq, o.prompt, depth, next)], [`tg${o.gen}`, () => timeGen(seq, o.gen, depth, next)]] as const) {
        await run(); // warm-up: page in the weights, size the compute buffers
        const speeds: number[] = [];
        for (let r = 0; r < o.repetitions; r++) speeds.push(await run());
        rows.push(`| ${basename(path)} | llama.cpp CPU | ${threads} | ${o.flashAttention ? 1 : 0} | ${test}${at} | ${meanSd(speeds)} |`);
        process.stderr.write(`${rows[rows.length - 1]}  [${speeds.map((s) => s.toFixed(2)).join(', ')}]\n`);
      }
    }
    await context.dispose();
  } finally {
    await model.dispose();
  }
  return rows;
}

async function main(): Promise<void> {
  const o = options();
  const llama = await loadPeer(o.peerDir);
  const release = `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`;
  process.stderr.write(`node-llama-cpp ${PEER_VERSION}, llama.cpp ${release}, build ${llama.buildType}, gpu ${String(llama.gpu)}\n${llama.systemInfo}\n`);
  const rows: string[] = [];
  for (const path of o.models) for (const threads of o.threads) rows.push(...(await benchModel(llama, path, threads, o)));
  process.stdout.write([
    `llama.cpp ${release} via node-llama-cpp ${PEER_VERSION} (prebuilt CPU binary), mean ± sd of ${o.repetitions} runs after a warm-up`,
    '',
    '| model | backend | threads | fa | test | t/s |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]).endsWith('peer-llamacpp.js')) await main();
