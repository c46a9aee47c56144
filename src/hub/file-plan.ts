import { GENERATION_CONFIG, INDEX_FILE, SINGLE_FILE } from '../checkpoint/checkpoint.js';
import { GemmaError } from '../util/errors.js';
import type { RemoteFile } from './hub-api.js';
import { checkHubPath, printable } from './safe-path.js';

/** Small files gemma reads besides the weights; only config.json is required. */
export const SIDE_FILES = ['config.json', GENERATION_CONFIG, 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** An index larger than this is not an index. */
const MAX_INDEX_BYTES = 64 << 20;

export interface FirstFiles {
  /** Config, tokenizer and generation files present in the repo, plus the index or the single weights file. */
  files: RemoteFile[];
  /** Present when the weights are sharded: its weight_map names the shards. */
  index?: RemoteFile;
}

/**
 * Picks files by exact name, never by pattern, so .gguf files, .bin duplicates, original/ and
 * any name the Hub makes up are never downloaded.
 */
export function firstFiles(listing: RemoteFile[], repo: string): FirstFiles {
  const byName = new Map(listing.map((f) => [f.path, f]));
  if (!byName.has('config.json')) throw new GemmaError(`${repo} has no config.json: it is not a Transformers model gemma can use`);
  const files = SIDE_FILES.flatMap((name) => byName.get(name) ?? []);
  const index = byName.get(INDEX_FILE);
  if (index !== undefined) {
    if (index.size > MAX_INDEX_BYTES) throw new GemmaError(`${repo}: ${INDEX_FILE} is ${index.size} bytes, too large to be an index`);
    return { files: [...files, index], index };
  }
  const single = byName.get(SINGLE_FILE);
  if (single === undefined) throw new GemmaError(`${repo} has no safetensors weights (${SINGLE_FILE} or ${INDEX_FILE}); gemma does not read .gguf or .bin files`);
  return { files: [...files, single] };
}

/** The shards an index names. Its names are untrusted: each must be a plain file name that the listing has. */
export function shardsOf(index: unknown, listing: RemoteFile[], repo: string): RemoteFile[] {
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new GemmaError(`${repo}: ${INDEX_FILE} has no weight_map`);
  const byName = new Map(listing.map((f) => [f.path, f]));
  const shards = new Map<string, RemoteFile>();
  for (const value of new Set(Object.values(map))) {
    const name = checkHubPath(value, `${repo}: ${INDEX_FILE}`);
    if (name.includes('/') || !name.endsWith('.safetensors')) throw new GemmaError(`${repo}: ${INDEX_FILE} names ${printable(name)}, not a .safetensors file next to it`);
    const file = byName.get(name);
    if (file === undefined) throw new GemmaError(`${repo}: ${INDEX_FILE} names ${printable(name)}, which the repo does not have`);
    shards.set(name, file);
  }
  if (shards.size === 0) throw new GemmaError(`${repo}: ${INDEX_FILE} names no weight files`);
  return [...shards.values()].sort((a, b) => a.path.localeCompare(b.path));
}
