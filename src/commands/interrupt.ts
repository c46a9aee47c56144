import { constants } from 'node:os';

/** The signals a person or a supervisor stops a command with; each ends the work cleanly. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let received: NodeJS.Signals | undefined;

/** 128 + the number of the signal that stopped the work (130 for Ctrl-C), as shells report it; undefined while none has. */
export const interruptedExitCode = (): number | undefined => (received === undefined ? undefined : 128 + constants.signals[received]);

/**
 * The first Ctrl-C, SIGTERM or SIGHUP aborts the work cleanly (the caller cleans up and throws;
 * src/cli.ts exits with `interruptedExitCode`); a second one exits at once, leaving the cleanup
 * to the exit hooks (src/util/exit-cleanup.ts).
 */
export function interruptible(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(interruptedExitCode());
    received = signal;
    controller.abort();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return { signal: controller.signal, dispose: () => STOP_SIGNALS.forEach((signal) => process.off(signal, onSignal)) };
}
