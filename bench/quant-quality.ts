/**
 * Perplexity of fp32, int8 and int4 exports of the generated test models on one text,
 * plus llama-perplexity's KL-divergence statistics of each against the fp32 export.
 * Usage: node dist/bench/quant-quality.js [text-file] [--window N]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gemma2Config } from '../src/checkpoint/config.js';
import { generateRandomCheckpoint, type RandomCheckpointOptions } from '../src/checkpoint/random-checkpoint.js';
import { TINY_RANDOM_OPTIONS } from '../src/checkpoint/tiny-random.js';
import { exportModel } from '../src/quantize/export.js';
import { variantName, type WeightFormat } from '../src/quantize/precision.js';
import { logProb } from '../src/runtime/perplexity.js';
import { openRuntime } from '../src/runtime/runtime.js';
import { BINDING_CONFIG, BINDING_OPTIONS } from '../test/helpers/models.js';

const base: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu' };
const FORMATS: WeightFormat[] = [
  { ...base, precision: 'fp32' }, { ...base, precision: 'int8' }, base, { ...base, blockSize: 64 }, { ...base, blockSize: 128 }, { ...base, keepEmbeddings: true },
];

interface Scored {
  logProbs: Float64Array[];
  nll: number;
  top: number[];
}

/** Log-probabilities of every next token over windows of `window` tokens (each from an empty cache). */
async function score(dir: string, text: string, window: number): Promise<Scored> {
  const rt = await openRuntime(dir, { threads: 1, ctxSize: window });
  const ids = [rt.tokenizer.bosId, ...rt.tokenizer.encode(text)];
  const logProbs: Float64Array[] = [];
  const top: number[] = [];
  let nll = 0;
  for (let at = 0; at + 1 < ids.length; at += window) {
    const chunk = ids.slice(at, at + window);
    rt.engine.rollback(0);
    const logits = await rt.engine.feed(chunk, true);
    for (let p = 0; p + 1 < chunk.length; p++) {
      const l = logits[p]!;
      const lp = Float64Array.from(l, (_, v) => logProb(l, v));
      logProbs.push(lp);
      top.push(lp.indexOf(Math.max(...lp)));
      nll -= lp[chunk[p + 1]!]!;
    }
  }
  await rt.model.session.release();
  return { logProbs, nll: nll / logProbs.length, top };
}

function klAndAgreement(ref: Scored, q: Scored): { kl: number; top1: number } {
  let kl = 0;
  let agree = 0;
  ref.logProbs.forEach((lp, i) => {
    const lq = q.logProbs[i]!;
    for (let v = 0; v < lp.length; v++) kl += Math.exp(lp[v]!) * (lp[v]! - lq[v]!);
    if (ref.top[i] === q.top[i]) agree++;
  });
  return { kl: kl / ref.logProbs.length, top1: agree / ref.logProbs.length };
}

async function model(name: string, config: Gemma2Config, options: Omit<RandomCheckpointOptions, 'config'>, text: string, window: number, root: string): Promise<void> {
  const checkpoint = join(root, name);
  await generateRandomCheckpoint(checkpoint, { ...options, config });
  let ref: Scored | undefined;
  console.log(`\n${name}: ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, vocab ${config.vocab_size}, window ${window} tokens\n`);
  console.log('| variant | data file MB | NLL (nats) | perplexity | ΔNLL vs fp32 | mean KL vs fp32 | top-1 = fp32 |\n|---|---|---|---|---|---|---|');
  for (const format of FORMATS) {
    const out = join(root, `${name}-${variantName(format)}`);
    const { manifest } = await exportModel({ checkpointDir: checkpoint, outDir: out, format, label: name });
    const s = await score(out, text, window);
    ref ??= s;
    const { kl, top1 } = klAndAgreement(ref, s);
    const mb = (manifest.sizes.dataBytes / 1e6).toFixed(2);
    console.log(`| ${variantName(format)} | ${mb} | ${s.nll.toFixed(4)} | ${Math.exp(s.nll).toExponential(3)} | ${(s.nll - ref.nll).toFixed(4)} | ${kl.toExponential(2)} | ${top1.toFixed(3)} |`);
  }
}

const args = process.argv.slice(2);
const windowAt = args.indexOf('--window');
const window = windowAt >= 0 ? Number(args[windowAt + 1]) : 128;
const textFile = args.find((a, i) => !a.startsWith('--') && i !== windowAt + 1) ?? new URL('../../README.md', import.meta.url).pathname;
const text = readFileSync(textFile, 'utf8');
const root = await mkdtemp(join(tmpdir(), 'gemma-quality-'));
try {
  console.log(`text: ${textFile} (${text.length} characters)`);
  await model('binding', { ...BINDING_CONFIG, max_position_embeddings: window }, BINDING_OPTIONS, text, window, root);
  await model('tiny-random', TINY_RANDOM_OPTIONS.config, TINY_RANDOM_OPTIONS, text, window, root);
} finally {
  await rm(root, { recursive: true, force: true });
}
