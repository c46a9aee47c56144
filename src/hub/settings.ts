import { homedir } from 'node:os';
import { join } from 'node:path';
import { GemmaError } from '../util/errors.js';

/** Where and how to reach the Hub, read from the same environment variables as Python's huggingface_hub. */
export interface HubSettings {
  /** Origin (and optional path prefix) of the Hub, without a trailing slash. */
  endpoint: string;
  /** The shared cache: `models--org--name/{blobs,snapshots,refs}` live here. */
  cacheDir: string;
  offline: boolean;
  /** HF_TOKEN, which comes after --token and before the token file. */
  envToken: string | undefined;
  /** File holding the token that `huggingface-cli login` stores. */
  tokenFile: string;
  /** A transfer that receives nothing for this long is dropped and retried. */
  idleTimeoutMs: number;
  /** First retry delay; each further retry doubles it. */
  retryDelayMs: number;
  /** Attempts per request before a transient failure is reported. */
  attempts: number;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** huggingface_hub's notion of a true environment flag. */
const isTrue = (value: string | undefined): boolean => ['1', 'ON', 'YES', 'TRUE'].includes((value ?? '').trim().toUpperCase());

function endpoint(raw: string | undefined): string {
  const value = raw?.trim() || DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GemmaError(`HF_ENDPOINT is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GemmaError(`HF_ENDPOINT must be an http or https URL, got ${url.protocol}`);
  if (url.username || url.password || url.search || url.hash) throw new GemmaError('HF_ENDPOINT must be a plain URL without credentials, query or fragment');
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function seconds(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback * 1000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new GemmaError(`${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  return n * 1000;
}

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
}

/** HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(hfHome(env), 'hub');
}

export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const home = hfHome(env);
  return {
    endpoint: endpoint(env.HF_ENDPOINT),
    cacheDir: hubCacheDir(env),
    offline: isTrue(env.HF_HUB_OFFLINE),
    envToken: env.HF_TOKEN,
    tokenFile: env.HF_TOKEN_PATH || join(home, 'token'),
    idleTimeoutMs: seconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 'HF_HUB_DOWNLOAD_TIMEOUT', 10),
    retryDelayMs: 500,
    attempts: 5,
  };
}
