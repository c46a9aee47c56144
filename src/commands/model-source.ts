import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { ensureTinyRandom, TINY_RANDOM } from '../checkpoint/tiny-random.js';
import { GemmaError } from '../util/errors.js';
import { gemmaHome } from '../util/paths.js';
import { spinner } from './progress.js';

export interface CheckpointSource {
  dir: string;
  /** Short name for default output folders. */
  name: string;
  label: string;
}

/** Resolves a checkpoint argument: the built-in `tiny-random` or a local Hugging Face checkpoint folder. */
export async function resolveCheckpoint(arg: string, showProgress: boolean): Promise<CheckpointSource> {
  if (arg === TINY_RANDOM) {
    const wait = spinner(showProgress, 'Generating the built-in tiny-random checkpoint (random weights)');
    const dir = await ensureTinyRandom(gemmaHome());
    wait.stop();
    return { dir, name: TINY_RANDOM, label: 'tiny-random (RANDOM WEIGHTS, not a trained model)' };
  }
  const dir = resolve(arg);
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) {
    const hint = /^[\w.-]+\/[\w.-]+$/.test(arg) ? ' (downloading Hub repos is not available yet: pass a local checkpoint folder)' : '';
    throw new GemmaError(`no such checkpoint folder: ${arg}${hint}`);
  }
  if (!info.isDirectory()) throw new GemmaError(`not a checkpoint folder: ${arg}`);
  return { dir, name: basename(dir), label: dir };
}
