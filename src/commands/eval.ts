import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { perplexity, SCORING_CHUNK } from '../runtime/perplexity.js';
import { openRuntime } from '../runtime/runtime.js';
import { NonFiniteLogitsError } from '../runtime/sampler.js';
import { GemmaError } from '../util/errors.js';
import { noticeContextFit } from './context-notice.js';
import { MODEL_ARGUMENT } from './model-argument.js';
import { commandWithArgument, flag, text, type OptionValues } from './option-defs.js';
import { byteBar, interactive, spinner } from './progress.js';
import { cudaReadiness } from '../cuda/provider-status.js';
import { resolveModel } from './resolve-model.js';
import { MODEL_OPTIONS } from './run-options.js';

export const EVAL_OPTIONS = {
  file: text('-f, --file <path>', 'text to score (required): tokenized once with BOS, cut into windows of --ctx-size tokens'),
  json: flag('--json', 'print { "nll", "ppl", "tokens" } as JSON'),
  ...MODEL_OPTIONS,
};

type EvalOptions = OptionValues<typeof EVAL_OPTIONS>;

async function evaluate(model: string, o: EvalOptions): Promise<void> {
  if (o.file === undefined) throw new GemmaError('--file is required: the text to compute perplexity on');
  const content = await readFile(o.file, 'utf8').catch(() => {
    throw new GemmaError(`cannot read ${o.file}`);
  });
  const show = interactive(o.json);
  const { dir, ep } = await resolveModel(model, show, o.ep, () => cudaReadiness());
  const wait = spinner(show, `Loading ${model}`);
  const options = { threads: o.threads, ep, prefillChunk: SCORING_CHUNK, allLogits: true, ...(o.ctxSize !== undefined ? { ctxSize: o.ctxSize } : {}) };
  const runtime = await openRuntime(dir, options).finally(() => wait.stop());
  noticeContextFit(runtime.engine.options);
  try {
    const ids = [runtime.tokenizer.bosId, ...runtime.tokenizer.encode(content)];
    if (ids.length < 2) throw new GemmaError(`${o.file} has no text to score`);
    const window = runtime.engine.options.ctxSize;
    const bar = byteBar(show, 'Scoring', Math.ceil(ids.length / window));
    const result = await perplexity(runtime.engine, ids, window, () => bar.advance(1, `windows of ${window} tokens`)).catch((err: unknown) => {
      throw err instanceof NonFiniteLogitsError ? new NonFiniteLogitsError(`the model in ${dir}`) : err;
    }).finally(() => bar.stop());
    if (o.json) process.stdout.write(`${JSON.stringify({ nll: result.nll, ppl: result.ppl, tokens: result.tokens })}\n`);
    else process.stdout.write(`perplexity ${result.ppl.toFixed(4)} (mean NLL ${result.nll.toFixed(6)} nats over ${result.tokens} tokens, ${result.windows} window(s) of ${window})\n`);
  } finally {
    await runtime.engine.close();
  }
}

export function evalCommand(): Command {
  return commandWithArgument('eval', 'perplexity of a model on a text file, as llama-perplexity computes it (compare precisions on the same text)', MODEL_ARGUMENT, EVAL_OPTIONS, evaluate);
}
