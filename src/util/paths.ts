import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where gemma keeps generated checkpoints and exports: $GEMMA_HOME, else $XDG_CACHE_HOME/gemma, else ~/.cache/gemma. */
export function gemmaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GEMMA_HOME) return env.GEMMA_HOME;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gemma');
}

/** Folder name of a model's exports: a Hub repo id `org/name` becomes `org--name`, as in the HF cache. */
export const modelName = (repoOrFolder: string): string => repoOrFolder.replace(/\//g, '--');

/** $GEMMA_HOME/models/<name>: one subfolder per export variant (int4-b64-asym, fp32, ...). */
export const exportsDir = (home: string, name: string): string => join(home, 'models', modelName(name));
