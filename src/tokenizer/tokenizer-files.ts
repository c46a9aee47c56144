import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../util/errors.js';
import { readRegularFile } from '../util/regular-file.js';
import { tablesFromJson, type BpeTables } from './bpe-tables.js';
import { decodeTables, TABLES_FILE } from './tables-file.js';

export type TokenizerConfig = Record<string, unknown>;

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readRegularFile(path)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof GemmaError) throw err;
    throw new GemmaError(`cannot read ${path}`);
  }
}

export const readTokenizerConfig = (dir: string): Promise<TokenizerConfig> => readJson(join(dir, 'tokenizer_config.json'));

const extraSpecial = (config: TokenizerConfig): string[] =>
  Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens.filter((t): t is string => typeof t === 'string') : [];

/** The tables of a folder's tokenizer.json (about a second for Gemma's 256000 tokens). */
export async function tablesFromFolder(dir: string, config: TokenizerConfig): Promise<BpeTables> {
  return tablesFromJson(await readJson(join(dir, 'tokenizer.json')), extraSpecial(config));
}

/** An export's tables file where there is one (written by gemma quantize), else tokenizer.json. */
export async function readTables(dir: string, config: TokenizerConfig): Promise<BpeTables> {
  const path = join(dir, TABLES_FILE);
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new GemmaError(`cannot read ${path}: ${err.message}`);
  });
  return bytes === undefined ? tablesFromFolder(dir, config) : decodeTables(bytes, path);
}
