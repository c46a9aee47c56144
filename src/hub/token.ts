import { readFile } from 'node:fs/promises';
import { GemmaError } from '../util/errors.js';

export interface HubToken {
  value: string;
  /** Where it came from, for messages: the value itself is never shown. */
  source: string;
}

/**
 * Printable ASCII only: a token with a newline or space would make the HTTP layer throw an
 * error that quotes the header, and so the token.
 */
const TOKEN = /^hf_[\x21-\x7e]+$/;

function checked(value: string, source: string): HubToken {
  if (!TOKEN.test(value)) throw new GemmaError(`the token from ${source} is not a Hugging Face access token (those start with hf_ and have no spaces)`);
  return { value, source };
}

async function readTokenFile(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() || undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GemmaError(`cannot read the token file ${path}: ${code ?? 'unreadable'}`);
  }
}

/** The token to send: `--token` first, then HF_TOKEN, then the file `huggingface-cli login` writes. */
export async function resolveToken(flag: string | undefined, envToken: string | undefined, tokenFile: string): Promise<HubToken | undefined> {
  if (flag !== undefined && flag.trim() !== '') return checked(flag.trim(), '--token');
  const fromEnv = envToken?.trim();
  if (fromEnv) return checked(fromEnv, 'HF_TOKEN');
  const fromFile = await readTokenFile(tokenFile);
  return fromFile === undefined ? undefined : checked(fromFile, tokenFile);
}
