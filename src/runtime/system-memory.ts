import { readFileSync } from 'node:fs';
import { GemmaError } from '../util/errors.js';
import type { AvailableMemory } from './memory-plan.js';

/** Overrides the memory gemma believes available (the tests' machine is not the user's): bytes, or a number with KB, MB, GB or TB (powers of 1000). */
export const MEMORY_LIMIT_VARIABLE = 'GEMMA_MEMORY_LIMIT';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };

export function parseMemoryLimit(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match === null ? undefined : UNITS[match[2]!.toLowerCase()];
  if (match === null || unit === undefined) throw new GemmaError(`${MEMORY_LIMIT_VARIABLE}=${text} is not a size: write bytes, or a number with KB, MB, GB or TB (such as 16GB)`);
  return Math.floor(Number(match[1]) * unit);
}

/** The text of the files that tell how much memory this process may still take; each absent where it was not readable. */
export interface MemoryFiles {
  meminfo?: string;
  /** cgroup v2: memory.max ("max" when unlimited) and memory.current. */
  cgroupMax?: string;
  cgroupCurrent?: string;
  /** cgroup v1: memory.limit_in_bytes (a huge number when unlimited) and memory.usage_in_bytes. */
  cgroupV1Limit?: string;
  cgroupV1Usage?: string;
}

function memAvailable(meminfo: string | undefined): number | undefined {
  const match = meminfo === undefined ? null : /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo);
  return match === null ? undefined : Number(match[1]) * 1024;
}

function cgroupRoom(limit: string | undefined, used: string | undefined): number | undefined {
  if (limit === undefined || used === undefined || !/^\d+$/.test(limit.trim()) || !/^\d+$/.test(used.trim())) return undefined;
  return Math.max(0, Number(limit.trim()) - Number(used.trim()));
}

/** The smaller of MemAvailable and the room left under the cgroup's limit; undefined when none of them is known. */
export function availableFrom(files: MemoryFiles): number | undefined {
  const known = [memAvailable(files.meminfo), cgroupRoom(files.cgroupMax, files.cgroupCurrent), cgroupRoom(files.cgroupV1Limit, files.cgroupV1Usage)];
  const bytes = known.filter((b): b is number => b !== undefined);
  return bytes.length === 0 ? undefined : Math.min(...bytes);
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const readMemoryFiles = (): MemoryFiles => ({
    meminfo: readText('/proc/meminfo'),
    cgroupMax: readText('/sys/fs/cgroup/memory.max'),
    cgroupCurrent: readText('/sys/fs/cgroup/memory.current'),
    cgroupV1Limit: readText('/sys/fs/cgroup/memory/memory.limit_in_bytes'),
    cgroupV1Usage: readText('/sys/fs/cgroup/memory/memory.usage_in_bytes'),
});

/** The host memory a model may take: $GEMMA_MEMORY_LIMIT, else what Linux reports; undefined where nothing tells (no check then). */
export function availableMemory(env: NodeJS.ProcessEnv = process.env): AvailableMemory | undefined {
  const limit = env[MEMORY_LIMIT_VARIABLE];
  if (limit !== undefined && limit !== '') return { bytes: parseMemoryLimit(limit), source: `${MEMORY_LIMIT_VARIABLE} makes` };
  const bytes = availableFrom(readMemoryFiles());
  return bytes === undefined ? undefined : { bytes, source: 'this machine has' };
}
