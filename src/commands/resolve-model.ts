import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sourceFiles } from '../checkpoint/source-files.js';
import { exportModel } from '../export/export.js';
import { exportState } from '../export/export-folder.js';
import { MANIFEST_FILE } from '../export/manifest.js';
import { defaultAccuracyLevel, DEFAULT_ATTENTION, defaultLayout, variantName, type ExecutionProvider, type WeightFormat } from '../quantize/precision.js';
import { conversionTarget, runTarget, type CudaState, type EpChoice } from '../runtime/execution-provider.js';
import { readManifest } from '../runtime/model-session.js';
import { GemmaError } from '../util/errors.js';
import { exportsDir, gemmaHome } from '../util/paths.js';
import { resolveCheckpoint, type CheckpointSource } from './model-source.js';
import { conversionProgress } from './conversion-progress.js';
import { interruptible } from './interrupt.js';

/** What `run`, `eval` and `bench` convert a checkpoint to when given one: the `gemma quantize` defaults for that EP. */
export const defaultFormat = (ep: ExecutionProvider): WeightFormat =>
  ({ precision: 'int4', ...defaultLayout('int4', ep), accuracyLevel: defaultAccuracyLevel(ep), keepEmbeddings: false, ep, attention: DEFAULT_ATTENTION });

export interface ResolvedModel {
  dir: string;
  ep: ExecutionProvider;
}

/** Stands in for CUDA's state where no answer can change the decision. */
const NOT_ASKED: CudaState = { ready: false, gpu: false, problems: ['not checked'] };

const isFile = (path: string): Promise<boolean> => stat(path).then((s) => s.isFile(), () => false);

/**
 * Converts a checkpoint on first use into the cache; later runs reuse the export while the
 * checkpoint's files are those it was made from, and convert again, with a notice, when not.
 * A process that finds another one converting waits for it and uses its export.
 */
async function cachedExport(source: CheckpointSource, format: WeightFormat, showProgress: boolean): Promise<string> {
  const variant = variantName(format);
  const outDir = join(exportsDir(gemmaHome(), source.name), variant);
  if ((await exportState(outDir, await sourceFiles(source.dir))).kind === 'current') return outDir;
  const interrupt = interruptible();
  const progress = conversionProgress(showProgress, {
    what: `${source.name} to ${variant}`,
    title: `Converting ${source.name} to ${variant}`,
    stale: (why) => `gemma: ${source.label} changed since its ${variant} export (${why}); converting it again`,
  });
  try {
    await exportModel({ checkpointDir: source.dir, outDir, format, label: source.label, keepCurrent: true, signal: interrupt.signal, ...progress.callbacks });
  } catch (err) {
    if (interrupt.signal.aborted) throw new GemmaError(`interrupted while converting ${source.name}: nothing was written`);
    throw err;
  } finally {
    progress.stop();
    interrupt.dispose();
  }
  return outDir;
}

/**
 * The export folder for a model argument and the EP to run it on: an export folder as it
 * is; a Hugging Face checkpoint folder or `tiny-random`, converted with the default
 * settings for the chosen EP on first use. CUDA's state is looked at only when it matters.
 */
export async function resolveModel(arg: string, showProgress: boolean, choice: EpChoice, cuda: () => Promise<CudaState>): Promise<ResolvedModel> {
  if (await isFile(join(arg, MANIFEST_FILE))) {
    const built = (await readManifest(arg)).ep;
    const state = built === 'cuda' ? await cuda() : NOT_ASKED;
    return { dir: arg, ep: runTarget(choice, built, state) };
  }
  const source = await resolveCheckpoint(arg, showProgress);
  if (!(await isFile(join(source.dir, 'config.json')))) {
    throw new GemmaError(`${arg} is neither a gemma export (no ${MANIFEST_FILE}) nor a Hugging Face checkpoint (no config.json)`);
  }
  const target = conversionTarget(choice, choice === 'cpu' ? NOT_ASKED : await cuda());
  if (target.notice !== undefined) process.stderr.write(`gemma: ${target.notice}\n`);
  return { dir: await cachedExport(source, defaultFormat(target.ep), showProgress), ep: target.ep };
}

