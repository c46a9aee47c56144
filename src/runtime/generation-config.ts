import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GENERATION_CONFIG } from '../checkpoint/checkpoint.js';
import type { Gemma2Config } from '../checkpoint/config.js';
import { describeFsError, GemmaError } from '../util/errors.js';
import type { SamplingParams } from './sampler.js';

/** What generation_config.json says, with llama.cpp's defaults for what it leaves out. */
export interface GenerationDefaults {
  eosTokenIds: number[];
  sampling: SamplingParams;
}

export const FALLBACK_SAMPLING: SamplingParams = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1,
  repeatLastN: 64,
};

/** The model's config fields that bound generation_config.json's token ids. */
export type TokenConfig = Pick<Gemma2Config, 'eos_token_id' | 'vocab_size'>;

interface Rule {
  says: string;
  holds: (v: unknown) => boolean;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Hugging Face's own limits on the sampling keys (GenerationConfig.validate). */
const RULES = {
  temperature: { says: 'a number ≥ 0', holds: (v) => finite(v) && v >= 0 },
  top_k: { says: 'an integer ≥ 0', holds: (v) => Number.isSafeInteger(v) && (v as number) >= 0 },
  top_p: { says: 'a number in (0, 1]', holds: (v) => finite(v) && v > 0 && v <= 1 },
  min_p: { says: 'a number from 0 to 1', holds: (v) => finite(v) && v >= 0 && v <= 1 },
  repetition_penalty: { says: 'a number > 0', holds: (v) => finite(v) && v > 0 },
  do_sample: { says: 'true or false', holds: (v) => typeof v === 'boolean' },
} satisfies Record<string, Rule>;

const invalid = (file: string, key: string, says: string, found: unknown): GemmaError =>
  new GemmaError(`${file}: '${key}' must be ${says}, found ${JSON.stringify(found)}: correct it or delete the key`);

/** A key's value once checked; absent and null (Hugging Face's "unset") are undefined. */
function checked<K extends keyof typeof RULES>(raw: Record<string, unknown>, key: K, file: string): unknown {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (!RULES[key].holds(v)) throw invalid(file, key, RULES[key].says, v);
  return v;
}

function eosIds(raw: Record<string, unknown>, config: TokenConfig, file: string): number[] {
  const eos = raw.eos_token_id ?? config.eos_token_id;
  const ids: unknown[] = Array.isArray(eos) ? eos : [eos];
  const isToken = (id: unknown): boolean => Number.isSafeInteger(id) && (id as number) >= 0 && (id as number) < config.vocab_size;
  if (ids.length === 0 || !ids.every(isToken)) {
    throw invalid(file, 'eos_token_id', `a token id or a list of token ids from 0 to ${config.vocab_size - 1}`, eos);
  }
  return ids as number[];
}

/** The checked contents of `file` (its name, for messages), every value a sampler would use validated. */
export function generationDefaults(raw: unknown, config: TokenConfig, file = GENERATION_CONFIG): GenerationDefaults {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new GemmaError(`${file} must hold a JSON object: correct it or delete it`);
  const json = raw as Record<string, unknown>;
  const num = (key: 'temperature' | 'top_k' | 'top_p' | 'min_p' | 'repetition_penalty'): number | undefined => checked(json, key, file) as number | undefined;
  const greedy = checked(json, 'do_sample', file) === false;
  const s = FALLBACK_SAMPLING;
  return {
    eosTokenIds: eosIds(json, config, file),
    sampling: {
      temperature: greedy ? 0 : num('temperature') ?? s.temperature,
      topK: num('top_k') ?? s.topK,
      topP: num('top_p') ?? s.topP,
      minP: num('min_p') ?? s.minP,
      repeatPenalty: num('repetition_penalty') ?? s.repeatPenalty,
      repeatLastN: s.repeatLastN,
    },
  };
}

/** `dir`'s generation_config.json, checked (at export, and again when a model loads); none at all means the defaults. */
export async function readGenerationDefaults(dir: string, config: TokenConfig): Promise<GenerationDefaults> {
  const file = join(dir, GENERATION_CONFIG);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw describeFsError(err, `cannot read ${file}`);
  }
  let raw: unknown = {};
  try {
    if (text !== undefined) raw = JSON.parse(text);
  } catch {
    throw new GemmaError(`${file} is not valid JSON: correct it or delete it`);
  }
  return generationDefaults(raw, config, file);
}
