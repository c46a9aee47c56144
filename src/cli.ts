import { Command } from 'commander';
import { quantizeCommand } from './commands/quantize.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { evalCommand } from './commands/eval.js';
import { benchCommand } from './commands/bench.js';
import { pullCommand } from './commands/pull.js';
import { listCommand } from './commands/list.js';
import { rmCommand } from './commands/rm.js';
import { setupCommand } from './commands/setup.js';
import { doctorCommand } from './commands/doctor.js';
import { interruptedExitCode } from './commands/interrupt.js';
import { describeFsError, GemmaError } from './util/errors.js';
import { VERSION } from './util/package-root.js';

const output = { outputError: (message: string, write: (s: string) => void) => write(`gemma: ${message}`) };
/** A fixed width keeps help identical on every terminal, so docs/cli.md can be generated from it. */
const help = { helpWidth: 100 };

export function program(): Command {
  const root = new Command('gemma')
    .description("Google's Gemma 2 from the Hugging Face Hub to a fast local chat, on onnxruntime")
    .version(VERSION)
    .showSuggestionAfterError(true)
    .configureOutput(output)
    .configureHelp(help);
  for (const cmd of [quantizeCommand(), runCommand(), serveCommand(), evalCommand(), benchCommand(), pullCommand(), listCommand(), rmCommand(), setupCommand(), doctorCommand()]) root.addCommand(cmd.configureOutput(output).configureHelp(help));
  return root;
}

/** Expected failures print one line; anything else is a bug and prints one line too, with the stack behind GEMMA_DEBUG=1. */
function report(err: unknown): number {
  if (err instanceof GemmaError) {
    process.stderr.write(`gemma: error: ${err.message}\n`);
    return interruptedExitCode() ?? 1;
  }
  if (process.env.GEMMA_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  else process.stderr.write(`gemma: internal error: ${(err as Error)?.message ?? String(err)} (GEMMA_DEBUG=1 shows the stack)\n`);
  return 2;
}

/**
 * A closed pipe (`gemma run … | head -c 5`) means the reader has what it wanted, so gemma stops at once with status 0
 * rather than SIGPIPE's 141: nothing failed, and a shell with pipefail would otherwise fail the whole pipeline. Any
 * other failure to write the output (`> /dev/full`) is one line and status 1. Either way generating on is pointless.
 */
function watchOutput(): void {
  const stop = (stream: NodeJS.WriteStream) => (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') process.exit(0);
    if (stream === process.stdout) {
      const described = describeFsError(err, 'writing output');
      process.stderr.write(`gemma: error: ${described instanceof GemmaError ? described.message : `writing output: ${err.message}`}\n`);
    }
    process.exit(1);
  };
  process.stdout.on('error', stop(process.stdout));
  process.stderr.on('error', stop(process.stderr));
}

export async function main(argv: string[]): Promise<void> {
  watchOutput();
  try {
    await program().parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err);
  }
}
