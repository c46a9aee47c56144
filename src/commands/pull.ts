import type { Command } from 'commander';
import { pullSnapshot, type Snapshot } from '../hub/snapshot.js';
import { hubSettings } from '../hub/settings.js';
import { interruptible } from './interrupt.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { formatBytes, interactive } from './progress.js';
import { PULL_OPTIONS } from './pull-options.js';
import { pullProgress } from './pull-progress.js';

type PullOptions = OptionValues<typeof PULL_OPTIONS>;

function report(repo: string, revision: string, result: Snapshot, seconds: number, json: boolean): void {
  if (json) {
    const { dir, commit, downloadedBytes, fromCache } = result;
    process.stdout.write(`${JSON.stringify({ repo, revision, commit, dir, downloadedBytes, fromCache, seconds: Number(seconds.toFixed(2)) })}\n`);
    return;
  }
  process.stdout.write(`${result.dir}\n`);
  const what = result.fromCache
    ? 'the cached copy (offline mode, or the Hub could not be reached)'
    : result.downloadedBytes === 0 ? 'already up to date' : `${formatBytes(result.downloadedBytes)} downloaded in ${seconds.toFixed(1)} s`;
  process.stderr.write(`${repo}@${revision} (commit ${result.commit.slice(0, 12)}): ${what}\n`);
}

async function pull(repo: string, o: PullOptions): Promise<void> {
  const settings = hubSettings(process.env);
  const progress = pullProgress(interactive(o.json));
  const interrupt = interruptible();
  const started = performance.now();
  try {
    const result = await pullSnapshot(repo, { revision: o.revision, token: o.token, signal: interrupt.signal, onProgress: progress.onProgress }, settings);
    progress.stop();
    report(repo, o.revision ?? 'main', result, (performance.now() - started) / 1000, o.json);
  } catch (err) {
    progress.stop();
    if (!interrupt.signal.aborted) throw err;
    // Ctrl-C is not a failure: one line and the shell's code for SIGINT.
    process.stderr.write('gemma: interrupted: partial downloads are kept and resume on the next pull\n');
    process.exitCode = 130;
  } finally {
    interrupt.dispose();
  }
}

export function pullCommand(): Command {
  return commandWithArgument('pull', 'download a Gemma 2 model from the Hugging Face Hub into the shared Hugging Face cache (resumable, sha256-verified)', ['<repo>', 'Hub model id, e.g. google/gemma-2-2b-it'], PULL_OPTIONS, pull);
}
