/**
 * An expected failure caused by the user's input or environment. Commands print its
 * message as one line and exit non-zero; anything else is a bug and keeps its stack.
 */
export class GemmaError extends Error {
  override name = 'GemmaError';
}

const FS_MESSAGES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
};

/** Turns a Node filesystem error into a GemmaError that names the path, leaving other errors as they are. */
export function describeFsError(err: unknown, what: string): unknown {
  if (err instanceof GemmaError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && code in FS_MESSAGES) {
    return new GemmaError(`${what}: ${FS_MESSAGES[code]}`);
  }
  return err;
}
