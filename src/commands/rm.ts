import type { Command } from 'commander';
import { interruptedConversions } from '../hub/exports-scan.js';
import { removeModel } from '../hub/remove-model.js';
import { hubCacheDir } from '../hub/settings.js';
import { gemmaHome } from '../util/paths.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { formatBytes } from './progress.js';
import { RM_OPTIONS } from './rm-options.js';

type RmOptions = OptionValues<typeof RM_OPTIONS>;

export const conversions = (count: number): string => `${count} interrupted conversion${count === 1 ? '' : 's'}`;

async function remove(model: string, o: RmOptions): Promise<void> {
  const interrupted = await interruptedConversions(gemmaHome(), model);
  const removed = await removeModel(hubCacheDir(process.env), gemmaHome(), model);
  const bytes = removed.bytes + interrupted.bytes;
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ...removed, bytes })}\n`);
    return;
  }
  for (const path of removed.paths) process.stdout.write(`${path}\n`);
  const including = interrupted.paths.length === 0 ? '' : ` (${conversions(interrupted.paths.length)} included)`;
  process.stderr.write(`removed ${removed.name}: ${formatBytes(bytes)} freed${including}\n`);
}

export function rmCommand(): Command {
  return commandWithArgument('rm', 'delete a model from the Hugging Face cache together with its ONNX exports', ['<model>', 'Hub model id (org/name) or an export name shown by gemma list'], RM_OPTIONS, remove);
}
