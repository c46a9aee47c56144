import type { ChildProcess } from 'node:child_process';
import { finished, startGemma, type CliResult } from './cli.js';

/** A `gemma serve` child process, once it has printed the line with its address. */
export interface ServeProcess {
  child: ChildProcess;
  url: string;
  done: Promise<CliResult>;
}

const SERVING = /^gemma: serving (\S+) on (http:\/\/\S+)$/m;

/** Starts `gemma serve args…` and waits for its one line on stderr; fails with its output if it exits first. */
export async function startServer(args: string[], env: Record<string, string>): Promise<ServeProcess> {
  const child = startGemma(['serve', ...args], env);
  const done = finished(child);
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = SERVING.exec(stderr);
      if (m !== null) resolve(m[2]!);
    });
    void done.then((r) => reject(new Error(`gemma serve exited (${r.code}) before serving: ${r.stderr}`)));
  });
  return { child, url, done };
}
