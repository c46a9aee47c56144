import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../quantize/export.js';
import { MANIFEST_FILE } from '../quantize/manifest.js';
import { variantName, type WeightFormat } from '../quantize/precision.js';
import { readManifest } from '../runtime/model-session.js';
import { GemmaError } from '../util/errors.js';
import { exportsDir, gemmaHome } from '../util/paths.js';
import { resolveCheckpoint, type CheckpointSource } from './model-source.js';
import { byteBar } from './progress.js';

/** What `run`, `eval` and `bench` convert a checkpoint to when given one: the `gemma quantize` defaults. */
export const DEFAULT_FORMAT: WeightFormat = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu' };

const isFile = (path: string): Promise<boolean> => stat(path).then((s) => s.isFile(), () => false);

/** Converts a checkpoint on first use into the cache; later runs reuse the export if it came from the same folder. */
async function cachedExport(source: CheckpointSource, showProgress: boolean): Promise<string> {
  const outDir = join(exportsDir(gemmaHome(), source.name), variantName(DEFAULT_FORMAT));
  if (await isFile(join(outDir, MANIFEST_FILE))) {
    const manifest = await readManifest(outDir).catch(() => undefined);
    if (manifest?.source.path === source.dir) return outDir;
  }
  let bar = byteBar(false, '', 0);
  try {
    await exportModel({
      checkpointDir: source.dir, outDir, format: DEFAULT_FORMAT, label: source.label,
      onStart: ({ bytes }) => (bar = byteBar(showProgress, `Converting ${source.name} to int4`, bytes)),
      onProgress: ({ tensor, bytes }) => bar.advance(bytes, tensor),
    });
  } finally {
    bar.stop();
  }
  return outDir;
}

/**
 * The export folder for a model argument: an export folder as it is; a Hugging Face
 * checkpoint folder or `tiny-random`, converted with the default settings on first use.
 */
export async function resolveModel(arg: string, showProgress: boolean): Promise<string> {
  if (await isFile(join(arg, MANIFEST_FILE))) return arg;
  const source = await resolveCheckpoint(arg, showProgress);
  if (!(await isFile(join(source.dir, 'config.json')))) {
    throw new GemmaError(`${arg} is neither a gemma export (no ${MANIFEST_FILE}) nor a Hugging Face checkpoint (no config.json)`);
  }
  return cachedExport(source, showProgress);
}
