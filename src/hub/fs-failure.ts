import { describeFsError, GemmaError } from '../util/errors.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** Every filesystem failure while pulling becomes one line naming the path; a full disk also says what to do. */
export function fsFailure(err: unknown, what: string): unknown {
  if (err instanceof GemmaError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return err;
  const described = describeFsError(err, what);
  const message = described instanceof GemmaError ? described.message : `${what}: ${code}`;
  return new GemmaError(FULL.has(code) ? `${message}: free some space and pull again; the download resumes where it stopped` : message);
}
