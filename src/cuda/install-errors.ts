import { GemmaError, describeFsError } from '../util/errors.js';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** A failure to write into the target folder, as one line that says what to do about it. */
export function targetError(err: unknown, dir: string): unknown {
  switch (code(err)) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new GemmaError(`cannot write to ${dir} (${code(err)}): run gemma setup cuda as a user with write access to that folder (its owner, or with sudo)`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new GemmaError(`no space left in ${dir}: the CUDA provider library needs 230 MB there, plus 180 MB while a download is unpacked`);
    default:
      return describeFsError(err, `cannot install into ${dir}`);
  }
}

/** fetch() failed before any response: offline, DNS, proxy or firewall. */
export function unreachableError(err: unknown, url: string): GemmaError {
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new GemmaError(`cannot reach ${new URL(url).host} (${why}): download ${url} elsewhere and run gemma setup cuda --from <that file>`);
}

export const integrityError = (what: string, expected: string, actual: string): GemmaError =>
  new GemmaError(`${what} does not match the pinned integrity: expected ${expected}, got ${actual}`);
