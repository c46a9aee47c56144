import { isAbsolute, relative } from 'node:path';
import { GemmaError } from '../util/errors.js';

/** Names from the Hub reach error messages: escape everything that could steer a terminal. */
export function printable(name: string): string {
  return JSON.stringify(name).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Why a relative path from an untrusted source cannot be used as a file name, or undefined if it can. */
export function unsafePathReason(name: string): string | undefined {
  if (name.length === 0 || name.length > 1024) return 'empty or too long';
  if (/[\x00-\x1f\x7f-\x9f]/.test(name)) return 'control characters';
  if (name.includes('\\')) return 'a backslash';
  if (name.startsWith('/') || isAbsolute(name)) return 'an absolute path';
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return `a ${JSON.stringify(segment)} path segment`;
    if (Buffer.byteLength(segment) > 255) return 'a path segment over 255 bytes';
  }
  return undefined;
}

/** Accepts a Hub file path only if it stays inside whatever folder it is joined to. */
export function checkHubPath(name: unknown, where: string): string {
  if (typeof name !== 'string') throw new GemmaError(`${where}: a file name is not a string`);
  const reason = unsafePathReason(name);
  if (reason !== undefined) throw new GemmaError(`${where}: refusing file name ${printable(name)} (${reason})`);
  return name;
}

/** True when `path` is `root` or below it (both absolute, already normalized by path.join/resolve). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
