import { GemmaError } from '../util/errors.js';
import { printable, unsafePathReason } from './safe-path.js';

/**
 * One half of `org/name` as the Hub allows it: letters, digits, `_`, `-`, `.`, not starting or
 * ending with `-` or `.`, and never `--` or `..` (the cache uses `--` as its separator).
 */
const PART = /^(?!.*(?:--|\.\.))[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;

/** `org/name`, as opposed to a local folder or a built-in model name. Callers that also accept folders should check those first. */
export function isRepoId(arg: string): boolean {
  const parts = arg.split('/');
  return parts.length === 2 && parts.every((p) => PART.test(p));
}

export function checkRepoId(arg: string): string {
  if (!isRepoId(arg)) throw new GemmaError(`not a Hugging Face model id: ${printable(arg)} (expected org/name, e.g. google/gemma-2-2b-it)`);
  return arg;
}

export const isCommitHash = (revision: string): boolean => /^[0-9a-f]{40}$/.test(revision);

/** Branch, tag or commit. It names a file under refs/, so it must be a safe relative path and a valid git ref. */
export function checkRevision(revision: string): string {
  const bad = unsafePathReason(revision) ?? (/[\s~^:?*[@{}]/.test(revision) || revision.startsWith('-') || revision.endsWith('.lock') ? 'not a git ref' : undefined);
  if (bad !== undefined) throw new GemmaError(`invalid --revision ${printable(revision)}: ${bad}`);
  return revision;
}

/** The cache's folder name for a model repo: `models--org--name`. */
export const repoFolderName = (repo: string): string => `models--${repo.replace('/', '--')}`;
