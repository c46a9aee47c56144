import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function generationDefaults(raw: Record<string, unknown>, configEos: number | number[]): GenerationDefaults {
  const eos = raw.eos_token_id ?? configEos;
  const eosTokenIds = (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => typeof x === 'number');
  const greedy = raw.do_sample === false;
  const s = FALLBACK_SAMPLING;
  return {
    eosTokenIds,
    sampling: {
      temperature: greedy ? 0 : num(raw.temperature) ?? s.temperature,
      topK: num(raw.top_k) ?? s.topK,
      topP: num(raw.top_p) ?? s.topP,
      minP: num(raw.min_p) ?? s.minP,
      repeatPenalty: num(raw.repetition_penalty) ?? s.repeatPenalty,
      repeatLastN: s.repeatLastN,
    },
  };
}

export async function readGenerationDefaults(dir: string, configEos: number | number[]): Promise<GenerationDefaults> {
  const raw = await readFile(join(dir, 'generation_config.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => ({}));
  return generationDefaults(raw, configEos);
}
