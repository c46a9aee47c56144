import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where gemma keeps generated checkpoints and exports: $GEMMA_HOME, else $XDG_CACHE_HOME/gemma, else ~/.cache/gemma. */
export function gemmaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GEMMA_HOME) return env.GEMMA_HOME;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gemma');
}
