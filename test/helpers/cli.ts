import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './models.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const GEMMA_BIN = join(REPO_ROOT, 'bin', 'gemma');

/** Starts `gemma args...` with piped stdio and the given extra environment. */
export function startGemma(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [GEMMA_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export const gemma = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => finished(startGemma(args, env));
