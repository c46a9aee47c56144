import { flag, text } from './option-defs.js';

/** Keys are the camelCase names commander derives from the long flags. */
export const PULL_OPTIONS = {
  revision: text('-r, --revision <rev>', 'branch, tag or commit to download (default: main)'),
  token: text('--token <token>', 'Hugging Face access token for gated or private repos (default: $HF_TOKEN, then $HF_HOME/token)'),
  json: flag('--json', 'print one JSON object describing the snapshot; no progress output'),
};
