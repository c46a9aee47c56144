import { flag } from './option-defs.js';

export const DOCTOR_OPTIONS = {
  json: flag('--json', 'print one JSON object instead of the report'),
};
