import { Command } from 'commander';
import { removeModel } from '../hub/remove-model.js';
import { hubCacheDir } from '../hub/settings.js';
import { gemmaHome } from '../util/paths.js';
import { addOptions, optionValues, type OptionValues } from './option-defs.js';
import { formatBytes } from './progress.js';
import { RM_OPTIONS } from './rm-options.js';

type RmOptions = OptionValues<typeof RM_OPTIONS>;

async function remove(model: string, o: RmOptions): Promise<void> {
  const removed = await removeModel(hubCacheDir(process.env), gemmaHome(), model);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(removed)}\n`);
    return;
  }
  for (const path of removed.paths) process.stdout.write(`${path}\n`);
  process.stderr.write(`removed ${removed.name}: ${formatBytes(removed.bytes)} freed\n`);
}

export function rmCommand(): Command {
  const cmd = new Command('rm')
    .description('delete a model from the Hugging Face cache together with its ONNX exports')
    .argument('<model>', 'Hub model id (org/name) or an export name shown by gemma list');
  addOptions(cmd, RM_OPTIONS);
  return cmd.action((model: string, raw: Record<string, unknown>) => remove(model, optionValues(RM_OPTIONS, raw)));
}
