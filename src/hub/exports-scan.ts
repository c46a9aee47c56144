import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, type Manifest } from '../export/manifest.js';
import { exportsDir } from '../util/paths.js';
import { deadProcessFolders, folderBytes, tempFolderPattern } from '../util/temp-folders.js';

/** One ONNX export of a model: a folder under $GEMMA_HOME/models/<name>/ holding a gemma.json manifest. */
export interface ExportVariant {
  variant: string;
  dir: string;
  /** model.onnx + model.onnx.data, from the manifest. */
  bytes: number | undefined;
}

const dirs = async (path: string): Promise<string[]> => {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  // Hidden folders are exports being written, or left by a killed conversion (`interruptedConversions`).
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
};

export async function exportVariants(home: string, name: string): Promise<ExportVariant[]> {
  const root = exportsDir(home, name);
  const variants: ExportVariant[] = [];
  for (const variant of await dirs(root)) {
    const dir = join(root, variant);
    const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    let sizes: Manifest['sizes'] | undefined;
    try {
      sizes = (JSON.parse(text) as Partial<Manifest>).sizes;
    } catch {
      sizes = undefined;
    }
    const bytes = typeof sizes?.modelBytes === 'number' && typeof sizes.dataBytes === 'number' ? sizes.modelBytes + sizes.dataBytes : undefined;
    variants.push({ variant, dir, bytes });
  }
  return variants;
}

/** Folder names under $GEMMA_HOME/models: `org--name` for Hub models, a plain name for local checkpoints. */
export async function exportNames(home: string): Promise<string[]> {
  return dirs(join(home, 'models'));
}

export const exportsExist = (home: string, name: string): Promise<boolean> => lstat(exportsDir(home, name)).then((s) => s.isDirectory(), () => false);

/** Temporary folders of a model's conversions whose process is gone; the next conversion of the same variant sweeps its own. */
export async function interruptedConversions(home: string, name: string): Promise<{ paths: string[]; bytes: number }> {
  const paths = await deadProcessFolders(exportsDir(home, name), tempFolderPattern());
  let bytes = 0;
  for (const path of paths) bytes += await folderBytes(path);
  return { paths, bytes };
}
