import type { Interface } from 'node:readline';

/** xterm's bracketed paste mode: the terminal marks pasted text, which readline reports as 'paste-start' and 'paste-end' keys. */
export const BRACKETED_PASTE_ON = '\x1b[?2004h';
export const BRACKETED_PASTE_OFF = '\x1b[?2004l';

/** Opens and closes a message of several lines, as in ollama. */
const FENCE = '"""';

/**
 * Groups the lines a person enters into chat messages. A bracketed paste is one message,
 * newlines kept, sent with the Enter after it; so is everything from a typed line starting
 * with `"""` to a line ending with `"""` (a paste inside it included). Any other line is a
 * message of its own.
 */
export class MessageAssembler {
  private pasted: string[] = [];
  private block: string[] | undefined;

  /** A message has begun and is not complete. */
  get open(): boolean {
    return this.pasted.length > 0 || this.block !== undefined;
  }

  /** The message `line` completes, if any; `pasting`: the line ended inside a paste. */
  add(line: string, pasting: boolean): string | undefined {
    if (pasting) {
      this.pasted.push(line);
      return undefined;
    }
    const wasPasted = this.pasted.length > 0;
    const entry = [...this.pasted, line].join('\n');
    this.pasted = [];
    if (this.block !== undefined) return this.extendBlock(this.block, entry);
    const start = entry.trimStart();
    if (wasPasted || !start.startsWith(FENCE)) return entry;
    this.block = [];
    return this.extendBlock(this.block, start.slice(FENCE.length));
  }

  private extendBlock(block: string[], entry: string): string | undefined {
    const end = entry.trimEnd();
    if (!end.endsWith(FENCE)) {
      block.push(entry);
      return undefined;
    }
    block.push(end.slice(0, -FENCE.length));
    this.block = undefined;
    return block.join('\n');
  }

  /** Forgets an open message; whether there was one. */
  discard(): boolean {
    const was = this.open;
    this.pasted = [];
    this.block = undefined;
    return was;
  }
}

/**
 * The messages entered at `rl`, whose keys come from `input`. `onOpen` runs after each
 * typed line that leaves a message open (to show a continuation prompt).
 */
export async function* chatMessages(rl: Interface, input: NodeJS.EventEmitter, assembler: MessageAssembler, onOpen: () => void): AsyncGenerator<string> {
  let pasting = false;
  // Whether each line ended inside a paste, noted as readline emits it: the loop below reads lines later.
  const pastedLines: boolean[] = [];
  const onKey = (_: string | undefined, key: { name?: string } | undefined): void => {
    if (key?.name === 'paste-start') pasting = true;
    else if (key?.name === 'paste-end') pasting = false;
  };
  const onLine = (): void => void pastedLines.push(pasting);
  input.on('keypress', onKey);
  rl.on('line', onLine);
  try {
    for await (const line of rl) {
      const pasted = pastedLines.shift() ?? false;
      const message = assembler.add(line, pasted);
      if (message !== undefined) yield message;
      else if (!pasted) onOpen();
    }
  } finally {
    input.off('keypress', onKey);
    rl.off('line', onLine);
  }
}
