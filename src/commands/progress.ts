import cliProgress from 'cli-progress';
import ora from 'ora';

/** Progress is drawn only for a person: stderr is a terminal and no machine-readable output was asked for. */
export const interactive = (json: boolean): boolean => !json && process.stderr.isTTY === true;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export interface ByteBar {
  advance(bytes: number, label: string): void;
  stop(): void;
}

/** A cli-progress bar over bytes on stderr, or nothing when not interactive. */
export function byteBar(enabled: boolean, title: string, total: number): ByteBar {
  if (!enabled) return { advance: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${title} |{bar}| {percentage}% | {done}/{size} | {eta_formatted} | {label}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let done = 0;
  bar.start(total, 0, { done: formatBytes(0), size: formatBytes(total), label: '' });
  return {
    advance: (bytes, label) => {
      done += bytes;
      bar.update(done, { done: formatBytes(done), label });
    },
    stop: () => bar.stop(),
  };
}

export interface Spinner {
  stop(): void;
}

/** An ora spinner on stderr for waits of unknown length, or a no-op. */
export function spinner(enabled: boolean, text: string): Spinner {
  if (!enabled) return { stop: () => undefined };
  const running = ora({ text, stream: process.stderr }).start();
  return { stop: () => void running.stop() };
}
