import { flag, inRange, integer, optionalNumber, orExactly, text, type OptionDef } from './option-defs.js';
import { DECODE_OPTIONS, MODEL_OPTIONS, positiveOrAll, SAMPLING_OPTIONS } from './run-options.js';

const host: OptionDef<string> = {
  flags: '--host <address>',
  description: 'address to listen on; anything but a loopback address (127.0.0.1, ::1, localhost) opens the model to the network, so set --api-key',
  default: '127.0.0.1',
  parse: (raw) => raw,
};

export const SERVE_OPTIONS = {
  host,
  port: integer('--port <n>', 'port to listen on; 0 picks a free one (the line on stderr tells which)', 8080, inRange(0, 65535)),
  parallel: integer('--parallel <n>', 'requests answered at once, each in its own slot (a KV cache of --ctx-size tokens over the one loaded model), their graph runs taking turns', 1, inRange(1, 64)),
  maxQueue: integer('--max-queue <n>', 'requests that may wait for a slot; more are refused at once with 503', 16, inRange(0, 100_000)),
  apiKey: text('--api-key <key>', 'require this key as Authorization: Bearer <key> on /v1/* (the chat page and /health stay open); GEMMA_API_KEY sets it too'),
  maxTokens: integer('-n, --max-tokens <n>', "a request's max_tokens when it sends none; -1 runs to an end token or the context limit", -1, positiveOrAll),
  special: flag('--special', 'read special-token strings (<bos>, <start_of_turn>, <end_of_turn> …) in request messages and prompts as the control tokens; by default they are plain text and only the chat template writes control tokens'),
  verbose: flag('--verbose', 'print one line per request on stderr'),
  json: flag('--json', 'print one JSON object on stdout once listening: {"model", "url"}'),
  ...MODEL_OPTIONS,
  ...DECODE_OPTIONS,
  ...SAMPLING_OPTIONS,
  seed: optionalNumber('--seed <n>', "random seed for requests that send none; -1 (the default) picks a fresh one for each request", orExactly(-1, inRange(0, 2 ** 32 - 1)), true),
};
