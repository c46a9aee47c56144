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

/** One cgroup's limit and usage, as read: v2 memory.max ("max" when unlimited) and memory.current, or v1 memory.limit_in_bytes (a huge number when unlimited) and memory.usage_in_bytes. */
export interface GroupFiles {
  limit?: string;
  usage?: string;
}

/** The text of the files that tell how much memory this process may still take; each absent where it was not readable. */
export interface MemoryFiles {
  meminfo?: string;
  /** This process's memory cgroup and each group above it: a limit anywhere up the tree applies. */
  groups?: GroupFiles[];
}

function memAvailable(meminfo: string | undefined): number | undefined {
  const match = meminfo === undefined ? null : /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo);
  return match === null ? undefined : Number(match[1]) * 1024;
}

function cgroupRoom({ limit, usage }: GroupFiles): number | undefined {
  if (limit === undefined || usage === undefined || !/^\d+$/.test(limit.trim()) || !/^\d+$/.test(usage.trim())) return undefined;
  return Math.max(0, Number(limit.trim()) - Number(usage.trim()));
}

/** The smaller of MemAvailable and the room left under every cgroup limit above this process; undefined when none of them is known. */
export function availableFrom(files: MemoryFiles): number | undefined {
  const known = [memAvailable(files.meminfo), ...(files.groups ?? []).map(cgroupRoom)];
  const bytes = known.filter((b): b is number => b !== undefined);
  return bytes.length === 0 ? undefined : Math.min(...bytes);
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * The limit and usage files of this process's memory cgroup and of every group above it, from /proc/self/cgroup's
 * text: the unified (v2) hierarchy's `0::/path` under /sys/fs/cgroup, or the v1 memory controller's `N:memory:/path`
 * under /sys/fs/cgroup/memory. Inside a cgroup namespace (a container) the path is `/` and the mount is the
 * container's own group; a path outside the namespace (`/..`) cannot be followed and is left out.
 */
export function cgroupFiles(selfCgroup: string): { limit: string; usage: string }[] {
  const files: { limit: string; usage: string }[] = [];
  for (const line of selfCgroup.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(\/.*)$/.exec(line.trim()) ?? [];
    if (path === undefined || path.split('/').includes('..')) continue;
    const v2 = controllers === '';
    if (!v2 && !controllers!.split(',').includes('memory')) continue;
    const root = v2 ? CGROUP_ROOT : `${CGROUP_ROOT}/memory`;
    const [limit, usage] = v2 ? ['memory.max', 'memory.current'] : ['memory.limit_in_bytes', 'memory.usage_in_bytes'];
    const parts = path.split('/').filter((p) => p !== '');
    for (let depth = parts.length; depth >= 0; depth--) {
      const dir = [root, ...parts.slice(0, depth)].join('/');
      files.push({ limit: `${dir}/${limit}`, usage: `${dir}/${usage}` });
    }
  }
  return files;
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
  groups: cgroupFiles(readText('/proc/self/cgroup') ?? '').map((f) => ({ limit: readText(f.limit), usage: readText(f.usage) })),
});

/** The host memory a model may take: $GEMMA_MEMORY_LIMIT, else what Linux reports; undefined where nothing tells (no check then). */
export function availableMemory(env: NodeJS.ProcessEnv = process.env): AvailableMemory | undefined {
  const limit = env[MEMORY_LIMIT_VARIABLE];
  if (limit !== undefined && limit !== '') return { bytes: parseMemoryLimit(limit), source: `${MEMORY_LIMIT_VARIABLE} makes` };
  const bytes = availableFrom(readMemoryFiles());
  return bytes === undefined ? undefined : { bytes, source: 'this machine has' };
}
