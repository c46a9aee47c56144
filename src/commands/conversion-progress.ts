import type { ExportRequest } from '../export/export.js';
import { byteBar, spinner } from './progress.js';

type Callbacks = Pick<ExportRequest, 'onWait' | 'onStale' | 'onStart' | 'onProgress'>;

export interface ConversionText {
  /** What is converted, as the wait for another process names it. */
  what: string;
  /** The progress bar's title. */
  title: string;
  /** The notice printed before an export that no longer matches its checkpoint is converted again. */
  stale?: (why: string) => string;
}

/**
 * A conversion's feedback on stderr: a spinner while another gemma process converts the same
 * thing, a byte bar while converting (both only when `show`), notices always. `stop` ends them.
 */
export function conversionProgress(show: boolean, text: ConversionText): { callbacks: Callbacks; stop: () => void } {
  let wait = spinner(false, '');
  let bar = byteBar(false, '', 0);
  const callbacks: Callbacks = {
    onWait: (owner) => {
      wait.stop();
      wait = spinner(show, `waiting for another gemma process (pid ${owner}) converting ${text.what}`);
    },
    onStale: (why) => {
      wait.stop();
      if (text.stale !== undefined) process.stderr.write(`${text.stale(why)}\n`);
    },
    onStart: ({ bytes }) => {
      wait.stop();
      bar = byteBar(show, text.title, bytes);
    },
    onProgress: ({ tensor, bytes }) => bar.advance(bytes, tensor),
  };
  return {
    callbacks,
    stop: () => {
      wait.stop();
      bar.stop();
    },
  };
}
