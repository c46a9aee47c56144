/**
 * Time the sampler takes per token on a Gemma-sized row of logits (256000), for the
 * default chain and with top-k off: what `gemma run` adds to every decode step on the
 * main thread (gemma bench measures the engine alone).
 *
 *   node dist/bench/sampler.js [--vocab 256000] [-n 50]
 */
import { parseArgs } from 'node:util';
import { Sampler, type SamplingParams } from '../src/runtime/sampler.js';
import { rng } from '../src/util/random.js';

const DEFAULTS: SamplingParams = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, repeatLastN: 64 };

function main(): void {
  const { values } = parseArgs({ options: { vocab: { type: 'string', default: '256000' }, n: { type: 'string', short: 'n', default: '50' } } });
  const random = rng(1);
  // A peaked row, as trained models give: most logits low, a few hundred well above.
  const logits = Float32Array.from({ length: Number(values.vocab) }, (_, i) => random() * 8 - 4 + (i % 1000 === 0 ? 10 : 0));
  for (const [name, params] of [['defaults (top-k 40, top-p 0.95, min-p 0.05)', DEFAULTS], ['top-k off (top-p 0.95, min-p 0.05)', { ...DEFAULTS, topK: 0 }], ['top-k and min-p off (top-p 0.95)', { ...DEFAULTS, topK: 0, minP: 0 }]] as const) {
    const sampler = new Sampler(params, 1);
    const times: number[] = [];
    for (let i = 0; i < Number(values.n); i++) {
      const row = logits.slice();
      const started = performance.now();
      sampler.next(row, []);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`${name}: median ${times[times.length >> 1]!.toFixed(2)} ms per token over ${times.length}\n`);
  }
}

main();
