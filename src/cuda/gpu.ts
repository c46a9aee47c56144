import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface Gpu {
  name: string;
  /** e.g. 0000:01:00.0 */
  busId?: string;
  memoryMiB?: number;
}

export interface GpuReport {
  gpus: Gpu[];
  driver?: string;
  source: 'nvidia-smi' | 'proc' | 'none';
  /** Why no GPU was found, for the report. */
  note?: string;
}

export interface GpuLookup {
  procDir?: string;
  nvidiaSmi?: string;
}

const run = promisify(execFile);

/** The driver version from /proc/driver/nvidia/version ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  ..."). */
export function parseDriverVersion(text: string): string | undefined {
  return /^NVRM version:.*?\s(\d+\.\d+(?:\.\d+)?)\s/m.exec(text)?.[1];
}

/** The "Key: value" lines of /proc/driver/nvidia/gpus/<bus id>/information. */
export function parseGpuInformation(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return fields;
}

/** `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader`: one GPU a line. */
export function parseNvidiaSmi(text: string): { gpus: Gpu[]; driver?: string } {
  const rows = text.split('\n').map((line) => line.split(',').map((cell) => cell.trim())).filter((cells) => cells.length >= 3 && cells[0] !== '');
  const gpus = rows.map(([name, , memory]) => {
    const mib = /^(\d+)\s*MiB$/.exec(memory!)?.[1];
    return mib === undefined ? { name: name! } : { name: name!, memoryMiB: Number(mib) };
  });
  const driver = rows[0]?.[1];
  return driver === undefined ? { gpus } : { gpus, driver };
}

async function fromNvidiaSmi(command: string): Promise<GpuReport | undefined> {
  try {
    const { stdout } = await run(command, ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { timeout: 10_000 });
    const parsed = parseNvidiaSmi(stdout);
    return parsed.gpus.length === 0 ? undefined : { ...parsed, source: 'nvidia-smi' };
  } catch {
    return undefined;
  }
}

async function fromProc(procDir: string): Promise<GpuReport> {
  const version = await readFile(join(procDir, 'version'), 'utf8').catch(() => undefined);
  if (version === undefined) return { gpus: [], source: 'none', note: `${procDir} missing` };
  const driver = parseDriverVersion(version);
  const busIds = await readdir(join(procDir, 'gpus')).catch(() => []);
  const gpus: Gpu[] = [];
  for (const busId of busIds.sort()) {
    const info = parseGpuInformation(await readFile(join(procDir, 'gpus', busId, 'information'), 'utf8').catch(() => ''));
    gpus.push({ name: info.Model ?? 'unknown NVIDIA GPU', busId });
  }
  const note = gpus.length === 0 ? `the driver lists no GPU in ${join(procDir, 'gpus')}` : undefined;
  return { gpus, source: 'proc', ...(driver && { driver }), ...(note && { note }) };
}

/** NVIDIA GPUs without a GPU library: nvidia-smi when installed (it knows the memory), else the driver's /proc files. */
export async function findGpus(lookup: GpuLookup = {}): Promise<GpuReport> {
  return (await fromNvidiaSmi(lookup.nvidiaSmi ?? 'nvidia-smi')) ?? fromProc(lookup.procDir ?? '/proc/driver/nvidia');
}
