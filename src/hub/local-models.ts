import { scanCache, type CachedRepo } from './cache-scan.js';
import { exportNames, exportVariants, type ExportVariant } from './exports-scan.js';
import { isRepoId } from './repo-id.js';

/** A model as `gemma list` shows it: its Hub download (if any) and its ONNX exports. */
export interface LocalModel {
  /** A Hub repo id, or the name of exports made from a local folder (e.g. tiny-random). */
  name: string;
  cache: CachedRepo | undefined;
  exports: ExportVariant[];
}

/** Export folder `org--name` belongs to repo `org/name`; any other folder name stands for itself. */
const exportOwner = (folder: string): string => {
  const repo = folder.replace('--', '/');
  return isRepoId(repo) ? repo : folder;
};

/** Everything in the Hugging Face cache and in $GEMMA_HOME/models, one entry per model, sorted by name. */
export async function localModels(cacheDir: string, home: string): Promise<LocalModel[]> {
  const models = new Map<string, LocalModel>();
  for (const cache of await scanCache(cacheDir)) models.set(cache.repo, { name: cache.repo, cache, exports: [] });
  for (const folder of await exportNames(home)) {
    const name = exportOwner(folder);
    const exports = await exportVariants(home, name);
    if (exports.length === 0) continue;
    const model = models.get(name) ?? { name, cache: undefined, exports: [] };
    models.set(name, { ...model, exports });
  }
  return [...models.values()].sort((a, b) => a.name.localeCompare(b.name));
}
