import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hubSettings, type HubSettings } from '../../../src/hub/settings.js';
import { FakeHub } from '../../helpers/fake-hub.js';
import { bindingCheckpoint, tempDir } from '../../helpers/models.js';

export const REPO = 'google/gemma-2-2b-it';
export const SHARD = 'model-00002-of-00003.safetensors';
export const TOKEN = 'hf_secretTOKEN123';

/** Files gemma must download from the generated checkpoint, and repo files it must leave alone. */
export const WANTED = ['config.json', 'generation_config.json', 'model-00001-of-00003.safetensors', SHARD, 'model-00003-of-00003.safetensors', 'model.safetensors.index.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];
const EXTRAS: Record<string, Buffer> = {
  '.gitattributes': Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n'),
  'gemma-2-2b-it.gguf': Buffer.alloc(300_000, 7),
  'pytorch_model.bin': Buffer.alloc(200_000, 3),
  'original/params.json': Buffer.from('{"dim": 256}'),
  'original/consolidated.safetensors': Buffer.alloc(1000, 1),
};

/** A generated checkpoint (by default the tiny Gemma 2) as Hub repo files, with the extras a real repo has. */
export async function repoFiles(checkpoint: Promise<string> = bindingCheckpoint()): Promise<Record<string, Buffer>> {
  const dir = await checkpoint;
  const files: Record<string, Buffer> = { ...EXTRAS };
  for (const name of await readdir(dir)) files[name] = await readFile(join(dir, name));
  return files;
}

export interface HubHome {
  root: string;
  /** For the CLI: HF_HOME, HF_ENDPOINT, GEMMA_HOME, and no token from the machine. */
  env: Record<string, string>;
  /** For in-process pulls: the same, with short retry delays. */
  settings: HubSettings;
  cacheDir: string;
}

export async function hubHome(prefix: string, endpoint: string): Promise<HubHome> {
  const root = await tempDir(prefix);
  const env = { HF_HOME: join(root, 'hf'), HF_ENDPOINT: endpoint, GEMMA_HOME: join(root, 'gemma'), HF_TOKEN: '', HF_HUB_OFFLINE: '' };
  const settings = { ...hubSettings(env), retryDelayMs: 5, idleTimeoutMs: 2000 };
  return { root, env, settings, cacheDir: settings.cacheDir };
}

/** Every path under `dir` (links not followed), relative. */
export async function allPaths(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.sort();
}

/** The contents of every regular file under `dir`, for leak checks. */
export async function allFileContents(dir: string): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = [];
  for (const rel of await allPaths(dir)) {
    const path = join(dir, rel);
    if ((await lstat(path)).isFile()) out.push({ path, text: (await readFile(path)).toString('latin1') });
  }
  return out;
}

/** A fake Hub serving the test checkpoint as REPO, and again as the gated `google/gated` that only TOKEN may download. */
export async function hubWithGatedRepo(): Promise<{ hub: FakeHub; files: Record<string, Buffer>; commit: string }> {
  const hub = await FakeHub.start();
  const files = await repoFiles();
  const commit = hub.addRepo(REPO, files);
  hub.addRepo('google/gated', files, { gated: true });
  hub.grant('google/gated', TOKEN);
  hub.tokens.add('hf_otherACCOUNT');
  return { hub, files, commit };
}
