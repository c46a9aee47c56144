/** Seconds from starting `gemma run <export> -p hi` to the first byte of the answer on stdout (warm page cache). */
import { spawn } from 'node:child_process';

export function timeToFirstByte(gemma: string, exportDir: string, threads: string, ep: string): Promise<number> {
  return new Promise((ok, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, [gemma, 'run', exportDir, '-p', 'hi', '-n', '1', '--threads', threads, '--ep', ep], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.once('data', () => ok((performance.now() - started) / 1000));
    child.on('close', (code) => (code === 0 ? undefined : fail(new Error(`gemma run exited ${code}`))));
  });
}
