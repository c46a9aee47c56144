/**
 * Perplexity of fp32, int8 and int4 exports of the generated test models on one text,
 * plus llama-perplexity's KL-divergence statistics of each against the fp32 export.
 * Usage: node dist/bench/quant-quality.js [text-file] [--window N]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gemma2Config } from '../src/checkpoint/config.js';
import { generateRandomCheckpoint, type RandomCheckpointOptions } from '../src/checkpoint/random-checkpoint.js';
import { TINY_RANDOM_OPTIONS } from '../src/checkpoint/tiny-random.js';
import { exportModel } from '../src/export/export.js';
import { variantName, type WeightFormat } from '../src/quantize/precision.js';
import { logSoftmax } from '../src/runtime/perplexity.js';
import { openRuntime } from '../src/runtime/runtime.js';
import { BINDING_CONFIG, BINDING_OPTIONS } from '../test/helpers/models.js';

const base: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' };
const FORMATS: WeightFormat[] = [
  { ...base, precision: 'fp32' }, { ...base, precision: 'int8' }, { ...base, precision: 'int8', blockSize: 128 }, base, { ...base, blockSize: 64 }, { ...base, blockSize: 64, asymmetric: true }, { ...base, blockSize: 128 }, { ...base, keepEmbeddings: true },
];

/** The fp32 export's next-token distributions, kept to compare every other variant with. */
interface Reference {
  logProbs: Float64Array[];
  top: number[];
}

interface Scored {
  nll: number;
  /** Mean KL(reference ‖ this), 0 for the reference itself. */
  kl: number;
  /** Positions whose argmax equals the reference's. */
  top1: number;
}

function argmax(x: Float64Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function kl(p: Float64Array, q: Float64Array): number {
  let sum = 0;
  for (let v = 0; v < p.length; v++) sum += Math.exp(p[v]!) * (p[v]! - q[v]!);
  return sum;
}

/**
 * Scores every next token over windows of `window` tokens (each from an empty cache). Without
 * `ref`, the distributions are kept in `keep` to become the reference; with it, each is compared
 * as it comes, so only the reference's (vocab × positions float64) stay in memory.
 */
async function score(dir: string, text: string, window: number, ref: Reference | undefined, keep: Reference): Promise<Scored> {
  const rt = await openRuntime(dir, { threads: 1, ctxSize: window });
  const ids = [rt.tokenizer.bosId, ...rt.tokenizer.encode(text)];
  let nll = 0;
  let klSum = 0;
  let agree = 0;
  let positions = 0;
  for (let at = 0; at + 1 < ids.length; at += window) {
    const chunk = ids.slice(at, at + window);
    rt.engine.rollback(0);
    const logits = await rt.engine.feed(chunk, true);
    for (let p = 0; p + 1 < chunk.length; p++, positions++) {
      const lp = logSoftmax(logits[p]!);
      nll -= lp[chunk[p + 1]!]!;
      if (ref === undefined) {
        keep.logProbs.push(lp);
        keep.top.push(argmax(lp));
        agree++;
      } else {
        klSum += kl(ref.logProbs[positions]!, lp);
        if (ref.top[positions] === argmax(lp)) agree++;
      }
    }
  }
  await rt.engine.close();
  return { nll: nll / positions, kl: klSum / positions, top1: agree / positions };
}

async function model(name: string, config: Gemma2Config, options: Omit<RandomCheckpointOptions, 'config'>, text: string, window: number, root: string): Promise<void> {
  const checkpoint = join(root, name);
  await generateRandomCheckpoint(checkpoint, { ...options, config });
  let ref: Reference | undefined;
  let refNll: number | undefined;
  console.log(`\n${name}: ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, vocab ${config.vocab_size}, window ${window} tokens\n`);
  console.log('| variant | data file MB | NLL (nats) | perplexity | ΔNLL vs fp32 | mean KL vs fp32 | top-1 = fp32 |\n|---|---|---|---|---|---|---|');
  for (const format of FORMATS) {
    const out = join(root, `${name}-${variantName(format)}`);
    const { manifest } = await exportModel({ checkpointDir: checkpoint, outDir: out, format, label: name });
    const keep: Reference = { logProbs: [], top: [] };
    const s = await score(out, text, window, ref, keep);
    ref ??= keep;
    refNll ??= s.nll;
    const mb = (manifest.sizes.dataBytes / 1e6).toFixed(2);
    console.log(`| ${variantName(format)} | ${mb} | ${s.nll.toFixed(4)} | ${Math.exp(s.nll).toExponential(3)} | ${(s.nll - refNll).toFixed(4)} | ${s.kl.toExponential(2)} | ${s.top1.toFixed(3)} |`);
  }
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { window: { type: 'string', default: '128' } } });
const window = Number(values.window);
const textFile = positionals[0] ?? new URL('../../README.md', import.meta.url).pathname;
const text = readFileSync(textFile, 'utf8');
const root = await mkdtemp(join(tmpdir(), 'gemma-quality-'));
try {
  console.log(`text: ${textFile} (${text.length} characters)`);
  await model('binding', { ...BINDING_CONFIG, max_position_embeddings: window }, BINDING_OPTIONS, text, window, root);
  await model('tiny-random', TINY_RANDOM_OPTIONS.config, TINY_RANDOM_OPTIONS, text, window, root);
} finally {
  await rm(root, { recursive: true, force: true });
}
