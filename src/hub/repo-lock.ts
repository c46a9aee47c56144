import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../util/errors.js';
import { alive } from '../util/pid-lock.js';
import { fsFailure } from './fs-failure.js';
import { repoFolderName } from './repo-id.js';

/**
 * One gemma pull per repo at a time: two writers on the same partial file would only waste the
 * transfer. The lock sits in huggingface_hub's `.locks/` folder and holds the owner's pid, so a
 * lock left by a killed process is recognised and taken over. Returns the release function.
 */
export async function lockRepo(cacheDir: string, repo: string): Promise<() => Promise<void>> {
  const dir = join(cacheDir, '.locks', repoFolderName(repo));
  const path = join(dir, 'gemma-pull.lock');
  await mkdir(dir, { recursive: true }).catch((err: unknown) => Promise.reject(fsFailure(err, `creating ${dir}`)));
  for (let tries = 0; tries < 2; tries++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsFailure(err, `creating ${path}`);
    }
    const owner = Number(await readFile(path, 'utf8').catch(() => ''));
    if (alive(owner)) throw new GemmaError(`${repo} is being downloaded by another gemma process (pid ${owner}); wait for it to finish`);
    await rm(path, { force: true });
  }
  throw new GemmaError(`cannot take the lock ${path}`);
}
