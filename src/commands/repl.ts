import { createInterface } from 'node:readline';
import type { RuntimeInfo } from '../runtime/worker/protocol.js';
import type { RanTurn, RemoteRuntime, WireTurnOptions } from '../runtime/worker/remote-runtime.js';
import { notices, statsLine } from './turn-report.js';

const HELP = '/reset  start a new conversation\n/stats  timings of the last answer\n/exit   quit (or Ctrl-D)\nCtrl-C stops an answer; at the prompt, Ctrl-C twice quits.';

/** The interactive chat: a prompt, streamed answers, slash commands; Ctrl-C stops an answer, Ctrl-D exits. */
export async function repl(runtime: RemoteRuntime, info: RuntimeInfo, turn: () => WireTurnOptions, raw: boolean): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ', terminal: true });
  const say = (text: string): void => void process.stdout.write(`${text}\n`);
  let busy = false;
  let armed = false;
  let last: RanTurn | undefined;
  rl.on('SIGINT', () => {
    if (busy) return runtime.interrupt();
    if (armed) return rl.close();
    armed = true;
    say('\n(Ctrl-C again or Ctrl-D to exit)');
    rl.prompt();
  });
  say(`${info.source} · ${info.variant} · context ${info.ctxSize} tokens${raw ? ' · raw completion' : ''}. /help for commands.`);
  rl.prompt();
  for await (const line of rl) {
    armed = false;
    const text = line.trim();
    if (text === '/exit' || text === '/quit') break;
    if (text === '/help') say(HELP);
    else if (text === '/reset') await runtime.reset().then(() => say('(new conversation)'));
    else if (text === '/stats') say(last === undefined ? '(no answer yet)' : statsLine(last));
    else if (text.startsWith('/')) say(`unknown command ${text}; /help lists them`);
    else if (text !== '') {
      busy = true;
      const write = (piece: string): void => void process.stdout.write(piece);
      last = await (raw ? runtime.complete(text, turn(), write) : runtime.chat(text, turn(), write)).finally(() => (busy = false));
      say('');
      for (const n of notices(last, info.ctxSize)) process.stderr.write(`${n}\n`);
    }
    rl.prompt();
  }
  rl.close();
}
