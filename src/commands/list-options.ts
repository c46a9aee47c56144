import { flag } from './option-defs.js';

export const LIST_OPTIONS = {
  json: flag('--json', 'print a JSON array instead of a table'),
};
