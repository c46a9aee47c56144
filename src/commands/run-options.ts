import { EP_CHOICES } from '../runtime/execution-provider.js';
import { choice, flag, inRange, integer, optionalNumber, orExactly, text } from './option-defs.js';

const atLeast = (min: number) => (n: number): string | undefined => (n < min ? `must be at least ${min}` : undefined);
export const positiveOrAll = (n: number): string | undefined => (n === 0 || n < -1 ? 'must be positive, or -1 for no limit' : undefined);

/** Options shared by commands that load a model. */
export const MODEL_OPTIONS = {
  ctxSize: optionalNumber('-c, --ctx-size <n>', "context size in tokens; 0 (the default) is the model's max_position_embeddings (8192 for Gemma 2), or the largest context that fits in memory", orExactly(0, atLeast(2)), true),
  threads: integer('-t, --threads <n>', 'CPU threads for onnxruntime (0: one per physical core)', 0, inRange(0, 1024)),
  ep: choice('--ep <provider>', 'execution provider: auto uses CUDA when this machine can (gemma doctor tells), else the CPU; checkpoints are converted for the chosen one', EP_CHOICES, 'auto'),
};

/** How decoding runs the model. */
export const DECODE_OPTIONS = {
  decodeSteps: integer(
    '--decode-steps <n>',
    "decode steps per graph run, in the export's decode loop with sampling in the graph (one-graph exports: gemma quantize --stages 1); 1 runs the graph once per token",
    1, inRange(1, 64),
  ),
};

/** Sampling: each one left out comes from the model's generation_config.json, then from llama.cpp's defaults. */
export const SAMPLING_OPTIONS = {
  temp: optionalNumber('--temp <t>', 'temperature; 0 is greedy (default 0.8)', inRange(0, 100)),
  topK: optionalNumber('--top-k <n>', 'keep the k most likely tokens; 0 disables (default 40)', atLeast(0), true),
  topP: optionalNumber('--top-p <p>', 'keep the most likely tokens up to this total probability; 1 disables (default 0.95)', inRange(0, 1)),
  minP: optionalNumber('--min-p <p>', 'drop tokens below p × the top probability; 0 disables (default 0.05)', inRange(0, 1)),
  repeatPenalty: optionalNumber('--repeat-penalty <x>', 'penalize recently seen tokens; 1 disables (default 1)', inRange(0.01, 10)),
  repeatLastN: optionalNumber('--repeat-last-n <n>', 'how many recent tokens the penalty looks at; -1 is the whole context (default 64)', atLeast(-1), true),
  seed: optionalNumber('--seed <n>', 'random seed: the same seed gives the same output; -1 (the default) picks one, reported by --json and /stats', orExactly(-1, inRange(0, 2 ** 32 - 1)), true),
};

export const RUN_OPTIONS = {
  prompt: text('-p, --prompt <text>', 'one-shot: answer this prompt, print only the answer and exit (stdin is read when it is not a terminal)'),
  system: text('--system <text>', "instructions for the conversation; Gemma's template has no system role, so they are folded into the first user turn"),
  raw: flag('--raw', 'plain completion of the prompt after BOS, no chat template (base models)'),
  special: flag('--special', 'read special-token strings (<bos>, <start_of_turn>, <end_of_turn> …) in the prompt, --system and chat messages as the control tokens; by default they are plain text and only the chat template writes control tokens'),
  maxTokens: integer('-n, --max-tokens <n>', 'stop after this many generated tokens; -1 runs to an end token or the context limit', -1, positiveOrAll),
  json: flag('--json', 'one-shot: print one JSON object (text, token ids, stop reason, timings) instead of the text'),
  ...MODEL_OPTIONS,
  ...DECODE_OPTIONS,
  ...SAMPLING_OPTIONS,
};
