import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** A command on a pseudo-terminal (util-linux `script`), typed into and read like a person would. */
export class Terminal {
  private readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(command: string, env: Record<string, string>) {
    this.child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', resolve));
  }

  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** Waits until the output after `from` matches, or fails after `ms`. */
  async waitFor(pattern: RegExp, from = 0, ms = 60_000): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const match = pattern.exec(this.output.slice(from));
      if (match) return from + match.index + match[0].length;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${this.output}`);
      await sleep(20);
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
