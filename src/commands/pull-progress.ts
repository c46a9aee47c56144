import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../hub/progress-events.js';
import { formatBytes, spinner, type Spinner } from './progress.js';

export interface PullProgress {
  onProgress(event: DownloadProgress): void;
  stop(): void;
}

/** Bytes per second over the last few seconds, sampled at most every 200 ms: cli-progress computes an ETA but no speed. */
function speedometer(windowMs = 5000): (received: number) => number {
  const samples: { t: number; received: number }[] = [];
  let speed = 0;
  return (received) => {
    const t = Date.now();
    if (samples.length > 0 && t - samples[samples.length - 1]!.t < 200) return speed;
    samples.push({ t, received });
    while (samples.length > 2 && t - samples[0]!.t > windowMs) samples.shift();
    const first = samples[0]!;
    speed = t > first.t ? ((received - first.received) * 1000) / (t - first.t) : 0;
    return speed;
  };
}

/** Fixed-width labels keep the bars aligned; 32 fits the usual model-0000N-of-0000M.safetensors. */
const LABEL = 32;
const fit = (label: string): string => (label.length > LABEL ? `…${label.slice(-(LABEL - 1))}` : label.padEnd(LABEL));

const payload = (done: number, size: number, speed: number, label: string): Record<string, string> => ({
  done: formatBytes(done), size: formatBytes(size), speed: `${formatBytes(speed)}/s`, label: fit(label),
});

type TransferEvent = Exclude<DownloadProgress, { kind: 'wait' }>;
interface TransferBars {
  onProgress(event: TransferEvent): void;
  stop(): void;
}

/** A cli-progress multibar on stderr: the total on top, one bar per file in flight. */
function transferBars(): TransferBars {
  const multi = new cliProgress.MultiBar({
    stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 100, autopadding: true,
    format: '{label} |{bar}| {percentage}% | {done}/{size} | {speed} | ETA {eta_formatted}',
  }, cliProgress.Presets.shades_classic);
  // Speeds count bytes received in this run, so that a resumed file does not look instantly fast.
  const speed = speedometer();
  let received = 0;
  const files = new Map<string, { bar: cliProgress.SingleBar; done: number; received: number; size: number; speed: (received: number) => number }>();
  let total = 0;
  let finished = 0;
  const totalBar = multi.create(0, 0, payload(0, 0, 0, 'total'));
  const redrawTotal = (): void => {
    const done = finished + [...files.values()].reduce((sum, f) => sum + f.done, 0);
    totalBar.setTotal(total);
    totalBar.update(done, payload(done, total, speed(received), 'total'));
  };
  const onProgress = (e: TransferEvent): void => {
    if (e.kind === 'plan') total += e.files.reduce((sum, f) => sum + f.size, 0);
    else if (e.kind === 'start') {
      const file = files.get(e.path) ?? { bar: multi.create(e.size, 0, payload(0, e.size, 0, e.path)), done: 0, received: 0, size: e.size, speed: speedometer() };
      files.set(e.path, { ...file, done: e.offset });
    } else if (e.kind === 'bytes') {
      const file = files.get(e.path);
      if (file !== undefined) {
        file.done += e.bytes;
        file.received += e.bytes;
        received += e.bytes;
        file.bar.update(file.done, payload(file.done, file.size, file.speed(file.received), e.path));
      }
    } else if (e.kind === 'done') {
      const file = files.get(e.path);
      if (file !== undefined) multi.remove(file.bar);
      files.delete(e.path);
      finished += e.size;
    } else multi.log(`${e.path}: ${e.kind === 'retry' ? `retrying in ${(e.delayMs / 1000).toFixed(1)} s (${e.reason})` : `starting again (${e.reason})`}\n`);
    redrawTotal();
  };
  return { onProgress, stop: () => multi.stop() };
}

/**
 * The transfer bars, drawn from the first transfer event on, after a spinner while another gemma
 * process holds the repo's lock; a no-op when not interactive.
 */
export function pullProgress(enabled: boolean): PullProgress {
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined };
  let bars: TransferBars | undefined;
  let waiting: Spinner | undefined;
  return {
    onProgress: (e) => {
      waiting?.stop();
      waiting = undefined;
      if (e.kind === 'wait') waiting = spinner(true, `waiting for gemma process ${e.pid}, which is downloading this model`);
      else (bars ??= transferBars()).onProgress(e);
    },
    stop: () => {
      waiting?.stop();
      bars?.stop();
    },
  };
}
