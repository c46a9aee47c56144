import { flag, text } from './option-defs.js';

export const SETUP_OPTIONS = {
  from: text('--from <path>', 'install from a local copy instead of downloading: the npm package .tgz (checked against the pinned sha512) or a folder holding the two .so files'),
  json: flag('--json', 'print one JSON object; no progress output'),
};
