import { createInterface } from 'node:readline';
import type { RuntimeInfo } from '../runtime/worker/protocol.js';
import type { RanTurn, RemoteRuntime, WireTurnOptions } from '../runtime/worker/remote-runtime.js';
import { GemmaError } from '../util/errors.js';
import { BRACKETED_PASTE_OFF, BRACKETED_PASTE_ON, chatMessages, MessageAssembler } from './chat-input.js';
import { notices, statsLine } from './turn-report.js';

const HELP = [
  '/reset  start a new conversation',
  '/stats  timings of the last answer',
  '/exit   quit (or Ctrl-D)',
  '"""     begins a message of several lines, up to a line ending in """; a paste is one message (Enter sends it)',
  'Ctrl-C stops an answer, or drops a message being entered; at the prompt, Ctrl-C twice quits.',
].join('\n');

const PROMPT = '> ';
const CONTINUATION = '... ';

const say = (text: string): void => void process.stdout.write(`${text}\n`);

/**
 * One answer, streamed. A GemmaError (a message too long for the context, ...) is reported
 * like any command's and the chat goes on as it was; anything else is a bug and ends it.
 */
async function answer(runtime: RemoteRuntime, text: string, turn: WireTurnOptions, raw: boolean, ctxSize: number): Promise<RanTurn | undefined> {
  let lineOpen = false;
  const write = (piece: string): void => {
    lineOpen = !piece.endsWith('\n');
    process.stdout.write(piece);
  };
  try {
    const result = await (raw ? runtime.complete(text, turn, write) : runtime.chat(text, turn, write));
    say('');
    for (const n of notices(result, ctxSize)) process.stderr.write(`${n}\n`);
    return result;
  } catch (err) {
    if (!(err instanceof GemmaError)) throw err;
    if (lineOpen) say('');
    process.stderr.write(`gemma: error: ${err.message}\n`);
    return undefined;
  }
}

/** The interactive chat: a prompt, streamed answers, slash commands; Ctrl-C stops an answer, Ctrl-D exits. */
export async function repl(runtime: RemoteRuntime, info: RuntimeInfo, turn: () => WireTurnOptions, raw: boolean): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: PROMPT, terminal: true });
  const assembler = new MessageAssembler();
  const prompt = (text: string): void => {
    rl.setPrompt(text);
    rl.prompt();
  };
  let busy = false;
  let armed = false;
  let last: RanTurn | undefined;
  rl.on('SIGINT', () => {
    if (busy) return runtime.interrupt();
    if (assembler.discard()) {
      armed = false;
      say('\n(message dropped)');
    } else {
      if (armed) return rl.close();
      armed = true;
      say('\n(Ctrl-C again or Ctrl-D to exit)');
    }
    prompt(PROMPT);
  });
  if (process.stdout.isTTY) process.stdout.write(BRACKETED_PASTE_ON);
  try {
    say(`${info.source} · ${info.variant} · context ${info.ctxSize} tokens${raw ? ' · raw completion' : ''}. /help for commands.`);
    prompt(PROMPT);
    for await (const message of chatMessages(rl, process.stdin, assembler, () => prompt(CONTINUATION))) {
      armed = false;
      const text = message.trim();
      const command = text.includes('\n') ? undefined : text;
      if (command === '/exit' || command === '/quit') break;
      if (command === '/help') say(HELP);
      else if (command === '/reset') await runtime.reset().then(() => say('(new conversation)'));
      else if (command === '/stats') say(last === undefined ? '(no answer yet)' : statsLine(last));
      else if (command?.startsWith('/')) say(`unknown command ${command}; /help lists them`);
      else if (text !== '') {
        busy = true;
        last = (await answer(runtime, text, turn(), raw, info.ctxSize).finally(() => (busy = false))) ?? last;
      }
      prompt(PROMPT);
    }
  } finally {
    rl.close();
    if (process.stdout.isTTY) process.stdout.write(BRACKETED_PASTE_OFF);
  }
}
