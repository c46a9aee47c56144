import type { Command } from 'commander';
import type { DownloadProgress } from '../cuda/download.js';
import { probeExecutionProvider, type ProbeResult } from '../cuda/ep-probe.js';
import { installProviderLibs, type InstallResult } from '../cuda/install.js';
import { CUDA_PROVIDER_PACKAGE, ortLibDir } from '../cuda/provider-package.js';
import { cudaReadiness } from '../cuda/provider-status.js';
import { GemmaError } from '../util/errors.js';
import { interruptible } from './interrupt.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { byteBar, formatBytes, interactive, spinner, type ByteBar } from './progress.js';
import { SETUP_OPTIONS } from './setup-options.js';

type SetupOptions = OptionValues<typeof SETUP_OPTIONS>;

const TARGETS = ['cuda'];

/** The byte bar needs the total, which is known only once the response arrives. */
function downloadBar(enabled: boolean): { onProgress: (p: DownloadProgress) => void; stop: () => void } {
  let bar: ByteBar | undefined;
  let shown = 0;
  const label = `${CUDA_PROVIDER_PACKAGE.name}@${CUDA_PROVIDER_PACKAGE.version}`;
  return {
    onProgress: ({ bytes, total }) => {
      bar ??= byteBar(enabled, 'downloading', total);
      bar.advance(bytes - shown, label);
      shown = bytes;
    },
    stop: () => bar?.stop(),
  };
}

async function install(from: string | undefined, json: boolean): Promise<InstallResult> {
  const progress = downloadBar(interactive(json));
  const interrupt = interruptible();
  try {
    return await installProviderLibs({ targetDir: ortLibDir(), from, signal: interrupt.signal, onProgress: progress.onProgress });
  } catch (err) {
    if (interrupt.signal.aborted) throw new GemmaError('interrupted: nothing was installed');
    throw err;
  } finally {
    progress.stop();
    interrupt.dispose();
  }
}

function printReport(result: InstallResult, cuda: ProbeResult, problems: string[]): void {
  const width = Math.max(...result.files.map((f) => f.name.length));
  const lines = result.files.map((f) => `${f.name.padEnd(width)}  ${f.outcome === 'unchanged' ? 'already installed' : 'installed'} (${formatBytes(f.bytes)})`);
  lines.push(`in ${result.dir}`, `from ${result.source}`);
  if (cuda.ok) lines.push(`CUDA execution provider: works (session + one run in ${cuda.ms} ms)`);
  else lines.push(`CUDA execution provider: does not work yet: ${cuda.reason}`, ...problems.map((p) => `  - ${p}`));
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function setup(target: string, o: SetupOptions): Promise<void> {
  if (!TARGETS.includes(target)) throw new GemmaError(`unknown setup target '${target}' (valid: ${TARGETS.join(', ')})`);
  const result = await install(o.from, o.json);
  const wait = spinner(interactive(o.json), 'trying the CUDA execution provider');
  const cuda = await probeExecutionProvider('cuda');
  wait.stop();
  const problems = cuda.ok ? [] : (await cudaReadiness({ dir: result.dir })).problems;
  if (o.json) process.stdout.write(`${JSON.stringify({ target, ...result, cuda, problems })}\n`);
  else printReport(result, cuda, problems);
}

export function setupCommand(): Command {
  return commandWithArgument(
    'setup', "install what an execution provider needs; today: cuda, onnxruntime's CUDA 13 provider libraries, put next to onnxruntime-node's libonnxruntime.so.1",
    ['<target>', `what to set up: ${TARGETS.join(', ')}`], SETUP_OPTIONS, setup,
  );
}
