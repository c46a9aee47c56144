import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { ensureTinyRandom, TINY_RANDOM } from '../checkpoint/tiny-random.js';
import { ensureSnapshot, isRepoId } from '../hub/snapshot.js';
import { interruptible } from './interrupt.js';
import { pullProgress } from './pull-progress.js';
import { GemmaError } from '../util/errors.js';
import { gemmaHome } from '../util/paths.js';
import { spinner } from './progress.js';

export interface CheckpointSource {
  dir: string;
  /** Short name for default output folders. */
  name: string;
  label: string;
}

/** Downloads (or finds in the Hugging Face cache) what gemma needs of a Hub repo, with `gemma pull`'s progress. */
async function hubCheckpoint(repo: string, showProgress: boolean): Promise<CheckpointSource> {
  const progress = pullProgress(showProgress);
  const interrupt = interruptible();
  try {
    const snapshot = await ensureSnapshot(repo, { signal: interrupt.signal, onProgress: progress.onProgress });
    return { dir: snapshot.dir, name: repo, label: `${repo}@${snapshot.commit.slice(0, 12)}` };
  } catch (err) {
    if (interrupt.signal.aborted) throw new GemmaError('interrupted: partial downloads are kept and resume next time');
    throw err;
  } finally {
    progress.stop();
    interrupt.dispose();
  }
}

/** Resolves a checkpoint argument: `tiny-random`, a local Hugging Face checkpoint folder, or a Hub repo id. */
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
    if (isRepoId(arg)) return hubCheckpoint(arg, showProgress);
    throw new GemmaError(`no such checkpoint folder or Hub repo: ${arg}`);
  }
  if (!info.isDirectory()) throw new GemmaError(`not a checkpoint folder: ${arg}`);
  return { dir, name: basename(dir), label: dir };
}
