import { flag, inRange, integer, integerList } from './option-defs.js';
import { DECODE_OPTIONS, MODEL_OPTIONS } from './run-options.js';

const positive = (n: number): string | undefined => (n <= 0 ? 'must be a positive integer' : undefined);
const nonNegative = (n: number): string | undefined => (n < 0 ? 'must be 0 or more' : undefined);

export const BENCH_OPTIONS = {
  nPrompt: integerList('-p, --n-prompt <n,...>', 'prompt-processing tests: ppN prefills N tokens', [512], positive),
  nGen: integerList('-n, --n-gen <n,...>', 'generation tests: tgN decodes exactly N tokens (end tokens do not stop it)', [128], positive),
  repetitions: integer('-r, --repetitions <n>', 'timed runs of each test, after one warm-up run', 5, inRange(1, 1000)),
  depth: integerList('-d, --depth <n,...>', 'run every test with this many tokens already in the cache', [0], nonNegative),
  json: flag('--json', 'print one JSON object'),
  csv: flag('--csv', 'print CSV, one row per test'),
  ...MODEL_OPTIONS,
  ...DECODE_OPTIONS,
};
