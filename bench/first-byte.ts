/** Seconds from starting `gemma run <export> -p hi` to the first byte of the answer on stdout (warm page cache). */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface FirstByteRun {
  firstByte: number;
  /** The most resident memory sampled (every 20 ms) from the first byte to the exit: the decoding phase, load excluded. */
  decodingRssBytes: number;
}

async function vmRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** `gemma run <export> -p hi -n <tokens>`: time to the first byte, and the memory it holds while it decodes the rest. */
export function firstByteRun(gemma: string, exportDir: string, threads: string, ep: string, tokens = 1, extra: string[] = []): Promise<FirstByteRun> {
  return new Promise((ok, fail) => {
    const started = performance.now();
    const args = [gemma, 'run', exportDir, '-p', 'hi', '-n', String(tokens), '--threads', threads, '--ep', ep, ...extra];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let firstByte = NaN;
    let peak = 0;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.once('data', () => {
      firstByte = (performance.now() - started) / 1000;
      timer = setInterval(() => void vmRss(child.pid ?? 0).then((b) => (peak = Math.max(peak, b))), 20);
    });
    child.stdout.resume();
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) ok({ firstByte, decodingRssBytes: peak });
      else fail(new Error(`gemma run exited ${code}`));
    });
  });
}

/** `extra`: more `gemma run` options, such as --decode-steps. */
export const timeToFirstByte = async (gemma: string, exportDir: string, threads: string, ep: string, extra: string[] = []): Promise<number> =>
  (await firstByteRun(gemma, exportDir, threads, ep, 1, extra)).firstByte;
