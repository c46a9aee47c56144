import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { ensureTinyRandom, TINY_RANDOM, TINY_RANDOM_OPTIONS } from '../checkpoint/tiny-random.js';
import { ensureSnapshot, isRepoId } from '../hub/snapshot.js';
import { interruptible } from './interrupt.js';
import { pullProgress } from './pull-progress.js';
import { GemmaError } from '../util/errors.js';
import { gemmaHome } from '../util/paths.js';
import { spinner } from './progress.js';

export interface CheckpointSource {
  dir: string;
  /** Its exports' folder name under $GEMMA_HOME/models: a Hub repo id, tiny-random, or `localExportName`. */
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

/** Generates the built-in checkpoint on first use, or waits for another process generating it. */
async function tinyRandom(showProgress: boolean): Promise<CheckpointSource> {
  const interrupt = interruptible();
  let wait = spinner(showProgress, 'Generating the built-in tiny-random checkpoint (random weights)');
  try {
    const onWait = (owner: number): void => {
      wait.stop();
      wait = spinner(showProgress, `waiting for another gemma process (pid ${owner}) generating tiny-random`);
    };
    const dir = await ensureTinyRandom(gemmaHome(), { signal: interrupt.signal, onWait });
    return { dir, name: TINY_RANDOM, label: TINY_RANDOM_OPTIONS.label };
  } catch (err) {
    if (interrupt.signal.aborted) throw new GemmaError('interrupted while generating tiny-random');
    throw err;
  } finally {
    wait.stop();
    interrupt.dispose();
  }
}

/**
 * The name of a local checkpoint's exports under $GEMMA_HOME/models: its folder's name made
 * safe, and a short hash of its absolute path, so that two checkpoints named alike never share exports.
 */
export function localExportName(dir: string): string {
  const readable = basename(dir).replace(/[^\w.-]/g, '_').replace(/^[.-]/, '_');
  return `${readable}-${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`;
}

/** Resolves a checkpoint argument: `tiny-random`, a local Hugging Face checkpoint folder, or a Hub repo id. */
export async function resolveCheckpoint(arg: string, showProgress: boolean): Promise<CheckpointSource> {
  if (arg === TINY_RANDOM) return tinyRandom(showProgress);
  const dir = resolve(arg);
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) {
    if (isRepoId(arg)) return hubCheckpoint(arg, showProgress);
    throw new GemmaError(`no such checkpoint folder or Hub repo: ${arg}`);
  }
  if (!info.isDirectory()) throw new GemmaError(`not a checkpoint folder: ${arg}`);
  return { dir, name: localExportName(dir), label: dir };
}
