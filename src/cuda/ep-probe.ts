import { execFile, type ExecFileException } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ExecutionProvider } from '../quantize/precision.js';

export type ProbeResult = { ok: true; ms: number } | { ok: false; reason: string };

type ChildReport = { ok: true; ms: number } | { ok: false; message: string };

const PROBE_SCRIPT = fileURLToPath(new URL('./ep-probe-child.js', import.meta.url));
const MAX_REASON = 300;

const oneLine = (text: string): string => (text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text);

/**
 * The most informative line of a failed session creation. ORT throws a generic "Failed to load shared library" and
 * logs the cause (which file, which missing dependency) to stderr just before, so that line wins when present.
 */
export function probeReason(message: string, stderr: string): string {
  // ORT colours its log lines with ANSI codes.
  const lines = `${stderr}\n${message}`.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const load = lines.map((l) => /Failed to load library .*/.exec(l)?.[0]).find((l) => l !== undefined);
  const best = load ?? message.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? lines.find((l) => /error/i.test(l)) ?? lines.at(-1);
  return oneLine(best ?? 'no error message');
}

function parseReport(stdout: string): ChildReport | undefined {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as ChildReport;
  } catch {
    return undefined;
  }
}

function interpret(err: ExecFileException | null, stdout: string, stderr: string, timeoutMs: number): ProbeResult {
  const report = parseReport(stdout);
  if (report?.ok === true) return { ok: true, ms: report.ms };
  if (report !== undefined) return { ok: false, reason: probeReason(report.message, stderr) };
  if (err?.killed === true) return { ok: false, reason: `the probe did not finish within ${timeoutMs / 1000} s` };
  const how = err?.signal ? `was killed by ${err.signal}` : `exited with code ${err?.code ?? 0}`;
  return { ok: false, reason: oneLine(`the probe process ${how}: ${probeReason('', stderr)}`) };
}

/** Whether an execution provider can create a session and compute one Add here, tried in a child process. */
export function probeExecutionProvider(ep: ExecutionProvider, timeoutMs = 60_000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PROBE_SCRIPT, ep], { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve(interpret(err, stdout, stderr, timeoutMs));
    });
  });
}
