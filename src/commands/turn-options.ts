import { randomInt } from 'node:crypto';
import type { GenerationDefaults } from '../runtime/generation-config.js';
import type { UserTextOptions } from '../runtime/runtime.js';
import type { WireTurnOptions } from '../runtime/worker/remote-runtime.js';
import type { OptionValues } from './option-defs.js';
import type { RUN_OPTIONS, SAMPLING_OPTIONS } from './run-options.js';

type Sampling = OptionValues<typeof SAMPLING_OPTIONS>;

/** Command-line sampling flags over the model's generation_config.json defaults. */
export function turnOptions(o: Sampling & { maxTokens: number }, defaults: GenerationDefaults): WireTurnOptions {
  const d = defaults.sampling;
  return {
    sampling: {
      temperature: o.temp ?? d.temperature,
      topK: o.topK ?? d.topK,
      topP: o.topP ?? d.topP,
      minP: o.minP ?? d.minP,
      repeatPenalty: o.repeatPenalty ?? d.repeatPenalty,
      repeatLastN: o.repeatLastN ?? d.repeatLastN,
    },
    seed: o.seed === undefined || o.seed === -1 ? randomInt(2 ** 32) : o.seed,
    maxTokens: o.maxTokens,
  };
}

/** What the runtime needs to know about the text the user writes (--system, --special). */
export function userText(o: Pick<OptionValues<typeof RUN_OPTIONS>, 'system' | 'special'>): UserTextOptions {
  return { ...(o.system !== undefined ? { system: o.system } : {}), specials: o.special ? 'control' : 'text' };
}
