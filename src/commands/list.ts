import { Command } from 'commander';
import { exportNames, interruptedConversions } from '../hub/exports-scan.js';
import { localModels, type LocalModel } from '../hub/local-models.js';
import { hubCacheDir } from '../hub/settings.js';
import { exportsDir, gemmaHome } from '../util/paths.js';
import { LIST_OPTIONS } from './list-options.js';
import { addOptions, optionValues, type OptionValues } from './option-defs.js';
import { formatBytes } from './progress.js';
import { conversions } from './rm.js';

type ListOptions = OptionValues<typeof LIST_OPTIONS>;

function revisions(model: LocalModel): string {
  const cache = model.cache;
  if (cache === undefined) return '-';
  const incomplete = `(incomplete: run gemma pull ${cache.repo} to resume)`;
  const commit = (c: string): string => (cache.incompleteSnapshots.includes(c) ? `${c.slice(0, 12)} ${incomplete}` : c.slice(0, 12));
  const refs = Object.entries(cache.refs).map(([ref, c]) => `${ref} ${commit(c)}`);
  const unnamed = cache.snapshots.filter((c) => !Object.values(cache.refs).includes(c)).map(commit);
  return [...refs, ...unnamed].join(', ') || incomplete;
}

function size(model: LocalModel): string {
  const cache = model.cache;
  if (cache === undefined) return '-';
  return cache.partialBytes > 0 ? `${formatBytes(cache.bytes)} (+${formatBytes(cache.partialBytes)} partial)` : formatBytes(cache.bytes);
}

const exportsText = (model: LocalModel): string =>
  model.exports.map((e) => (e.bytes === undefined ? e.variant : `${e.variant} (${formatBytes(e.bytes)})`)).join(', ') || '-';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ')).join('\n');
}

/** One line per model folder holding what killed conversions left. */
async function interruptedNotes(home: string): Promise<string[]> {
  const notes: string[] = [];
  for (const folder of await exportNames(home)) {
    const { paths, bytes } = await interruptedConversions(home, folder);
    if (paths.length > 0) notes.push(`${conversions(paths.length)} left ${formatBytes(bytes)} in ${exportsDir(home, folder)}: the next conversion of the same variant sweeps them, gemma rm ${folder} deletes them with the exports`);
  }
  return notes;
}

async function list(o: ListOptions): Promise<void> {
  const cacheDir = hubCacheDir(process.env);
  const home = gemmaHome();
  const models = await localModels(cacheDir, home);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(models.map((m) => ({ name: m.name, cache: m.cache ?? null, exports: m.exports })))}\n`);
    return;
  }
  for (const note of await interruptedNotes(home)) process.stderr.write(`${note}\n`);
  if (models.length === 0) {
    process.stderr.write(`no models in ${cacheDir} or ${home}/models; download one with gemma pull <org/name>\n`);
    return;
  }
  const header = ['MODEL', 'REVISION', 'SIZE', 'EXPORTS'];
  process.stdout.write(`${table([header, ...models.map((m) => [m.name, revisions(m), size(m), exportsText(m)])])}\n`);
}

export function listCommand(): Command {
  const cmd = new Command('list').description('show the models in the Hugging Face cache and their ONNX exports in $GEMMA_HOME');
  addOptions(cmd, LIST_OPTIONS);
  return cmd.action((raw: Record<string, unknown>) => list(optionValues(LIST_OPTIONS, raw)));
}
