import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TOKENIZER_FILES } from './checkpoint.js';

/**
 * What a checkpoint's content is identified by, file name to identity: config.json by its
 * content's sha256 (it is small and is often rewritten with the same content), every weight,
 * JSON and tokenizer file by its size and modification time (hashing gigabytes on each run
 * would cost more than the conversion saves). A Hub snapshot's files are links into its blobs:
 * their targets are what is described.
 */
export type SourceFiles = Record<string, string>;

const CONFIG = 'config.json';

const described = (name: string): boolean => name.endsWith('.safetensors') || name.endsWith('.json') || TOKENIZER_FILES.includes(name);

export async function sourceFiles(dir: string): Promise<SourceFiles> {
  const files: SourceFiles = {};
  for (const name of (await readdir(dir)).filter(described).sort()) {
    const info = await stat(join(dir, name), { bigint: true }).catch(() => undefined);
    if (info === undefined || !info.isFile()) continue;
    files[name] = name === CONFIG
      ? `sha256:${createHash('sha256').update(await readFile(join(dir, name))).digest('hex')}`
      : `${info.size} bytes, modified at ${info.mtimeNs} ns`;
  }
  return files;
}

/** The first difference between the files an export was made from and those there now, in words; undefined when none. */
export function sourceChange(before: SourceFiles, now: SourceFiles): string | undefined {
  for (const name of Object.keys(now)) {
    if (before[name] === undefined) return `${name} is new`;
    if (before[name] !== now[name]) return `${name} changed`;
  }
  const gone = Object.keys(before).find((name) => now[name] === undefined);
  return gone === undefined ? undefined : `${gone} is gone`;
}
