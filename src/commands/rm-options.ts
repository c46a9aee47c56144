import { flag } from './option-defs.js';

export const RM_OPTIONS = {
  json: flag('--json', 'print one JSON object listing what was removed'),
};
