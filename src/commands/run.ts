import type { Command } from 'commander';
import { text as readAll } from 'node:stream/consumers';
import { RemoteRuntime } from '../runtime/worker/remote-runtime.js';
import type { RuntimeInfo } from '../runtime/worker/protocol.js';
import { GemmaError } from '../util/errors.js';
import { noticeContextFit } from './context-notice.js';
import { MODEL_ARGUMENT } from './model-argument.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { interactive, spinner } from './progress.js';
import { repl } from './repl.js';
import { cudaReadiness } from '../cuda/provider-status.js';
import { resolveModel } from './resolve-model.js';
import { RUN_OPTIONS } from './run-options.js';
import { jsonResult, notices, statsLine } from './turn-report.js';
import { turnOptions, userText } from './turn-options.js';

type RunOptions = OptionValues<typeof RUN_OPTIONS>;

async function open(model: string, o: RunOptions, show: boolean): Promise<{ runtime: RemoteRuntime; info: RuntimeInfo }> {
  const { dir, ep } = await resolveModel(model, show, o.ep, () => cudaReadiness());
  const wait = spinner(show, `Loading ${model}`);
  try {
    const opened = await RemoteRuntime.open(dir, { threads: o.threads, ep, decodeSteps: o.decodeSteps, ...(o.ctxSize !== undefined ? { ctxSize: o.ctxSize } : {}), ...userText(o) });
    wait.stop();
    noticeContextFit(opened.info);
    return opened;
  } catch (err) {
    wait.stop();
    throw err;
  }
}

/** First Ctrl-C stops the answer; a second one exits at once. */
function onInterrupt(runtime: RemoteRuntime): () => void {
  let count = 0;
  const handler = (): void => {
    if (++count > 1) process.exit(130);
    runtime.interrupt();
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

async function oneShot(runtime: RemoteRuntime, info: RuntimeInfo, prompt: string, o: RunOptions): Promise<void> {
  const dispose = onInterrupt(runtime);
  try {
    const write = o.json ? () => undefined : (piece: string) => void process.stdout.write(piece);
    const turn = turnOptions(o, info.defaults);
    const result = o.raw ? await runtime.complete(prompt, turn, write) : await runtime.chat(prompt, turn, write);
    if (o.json) process.stdout.write(`${JSON.stringify(jsonResult(result, info.loadMs))}\n`);
    else if (!result.text.endsWith('\n')) process.stdout.write('\n');
    for (const n of notices(result, info.ctxSize)) process.stderr.write(`${n}\n`);
    if (!o.json && process.stderr.isTTY) process.stderr.write(`${statsLine(result)}\n`);
    if (result.stopReason === 'interrupted') process.exitCode = 130;
  } finally {
    dispose();
  }
}

async function run(model: string, o: RunOptions): Promise<void> {
  const prompt = o.prompt ?? (process.stdin.isTTY ? undefined : await readAll(process.stdin));
  if (prompt !== undefined && prompt.trim() === '') throw new GemmaError('empty prompt');
  if (prompt === undefined && o.json) throw new GemmaError('--json needs a one-shot prompt (-p TEXT or text on stdin)');
  const { runtime, info } = await open(model, o, interactive(o.json));
  try {
    if (!o.raw && !info.hasTemplate) throw new GemmaError('this model has no chat template: use --raw for plain completion');
    if (prompt !== undefined) await oneShot(runtime, info, prompt, o);
    else await repl(runtime, info, () => turnOptions(o, info.defaults), o.raw);
  } finally {
    await runtime.close();
  }
}

export function runCommand(): Command {
  return commandWithArgument('run', 'chat with a model, or answer one prompt (-p, or text on stdin) for scripts', MODEL_ARGUMENT, RUN_OPTIONS, run);
}
