/**
 * Peak resident memory of a child Node process: GNU time's maximum resident set size where
 * /usr/bin/time exists, else the child's own VmHWM polled from /proc.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';

export interface ChildRun {
  code: number | null;
  seconds: number;
  peakRssBytes: number;
}

/** GNU time (not a shell builtin or busybox) with -v, which reports the child's maximum resident set size. */
export function gnuTime(): string | undefined {
  const path = '/usr/bin/time';
  if (!existsSync(path)) return undefined;
  return spawnSync(path, ['-v', 'true'], { stdio: 'ignore' }).status === 0 ? path : undefined;
}

async function runWithGnuTime(time: string, args: string[], report: string): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(time, ['-v', '-o', report, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  const seconds = (performance.now() - started) / 1000;
  const text = await readFile(report, 'utf8').catch(() => '');
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1];
  return { code, seconds, peakRssBytes: kb === undefined ? NaN : Number(kb) * 1024 };
}

/** The peak resident memory (VmHWM) of a running process, 0 once it is gone. */
export async function readHwm(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** Fallback: polls the child's VmHWM (its own peak RSS) every 100 ms; misses at most the last interval. */
async function runWithPolling(args: string[]): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const pid = child.pid ?? 0;
  let peak = 0;
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      peak = Math.max(peak, await readHwm(pid));
    });
  }, 100);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(timer);
  await polling;
  return { code, seconds: (performance.now() - started) / 1000, peakRssBytes: peak };
}

/** Runs `node <args>` and reports its exit code, wall time and peak RSS (`report` is GNU time's scratch file). */
export async function runMeasured(args: string[], time: string | undefined, report: string): Promise<ChildRun> {
  if (time === undefined) return runWithPolling(args);
  const run = await runWithGnuTime(time, args, report);
  await rm(report, { force: true });
  return run;
}
