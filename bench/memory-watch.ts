/**
 * Where a command's memory goes: runs it, samples its /proc status every 50 ms and prints one JSON line with its exit
 * code, wall time, peak RSS (VmHWM) and the peaks of its anonymous and file-backed resident pages. With --cgroup it
 * runs inside a fresh cgroup v1 memory group of that many bytes (root only), so that the kernel has to reclaim what it
 * can and kills the command if the rest does not fit; --evict drops a file's pages from the page cache first, so that
 * the command reads them into its own group (pages cached earlier are charged to whoever read them).
 *
 *   node dist/bench/memory-watch.js [--cgroup 17.88e9] [--evict FILE]... -- gemma run DIR -p hi -n 16 -c 4096
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const GB = 1e9;
const SAMPLE_MS = 50;

interface Options {
  cgroup?: number;
  evict: string[];
  command: string[];
}

function options(): Options {
  const separator = process.argv.indexOf('--');
  if (separator < 0 || separator === process.argv.length - 1) throw new Error('usage: memory-watch.js [--cgroup BYTES] [--evict FILE]... -- command args...');
  const { values } = parseArgs({ args: process.argv.slice(2, separator), options: { cgroup: { type: 'string' }, evict: { type: 'string', multiple: true, default: [] } } });
  const cgroup = values.cgroup === undefined ? undefined : Number(values.cgroup);
  if (cgroup !== undefined && !(cgroup > 0)) throw new Error(`--cgroup ${values.cgroup} is not a number of bytes`);
  return { ...(cgroup !== undefined ? { cgroup } : {}), evict: values.evict, command: process.argv.slice(separator + 1) };
}

/** VmHWM, RssAnon and RssFile of a process in bytes; zeros once it is gone. */
async function status(pid: number): Promise<Record<'VmHWM' | 'RssAnon' | 'RssFile', number>> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { VmHWM: kb('VmHWM'), RssAnon: kb('RssAnon'), RssFile: kb('RssFile') };
}

/** A new group under this process's v1 memory cgroup, limited to `bytes`. */
async function memoryGroup(bytes: number): Promise<string> {
  const own = /^\d+:memory:(.*)$/m.exec(await readFile('/proc/self/cgroup', 'utf8'))?.[1];
  if (own === undefined) throw new Error('no cgroup v1 memory hierarchy here');
  const dir = join('/sys/fs/cgroup/memory', own, `memory-watch-${process.pid}`);
  await mkdir(dir);
  await writeFile(join(dir, 'memory.limit_in_bytes'), String(Math.round(bytes)));
  return dir;
}

async function groupReport(dir: string): Promise<Record<string, number>> {
  const read = async (file: string): Promise<string> => (await readFile(join(dir, file), 'utf8')).trim();
  return {
    limitGb: Number(await read('memory.limit_in_bytes')) / GB,
    maxUsageGb: Number(await read('memory.max_usage_in_bytes')) / GB,
    oomKills: Number(/^oom_kill (\d+)$/m.exec(await read('memory.oom_control'))?.[1] ?? 0),
  };
}

/** Drops a file's cached pages; GNU dd's nocache flag asks for posix_fadvise DONTNEED, which Node cannot. */
function evict(file: string): void {
  const dd = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8' });
  if (dd.status !== 0) throw new Error(`cannot evict ${file}: ${(dd.stderr || dd.error?.message || `dd exit ${dd.status}`).trim()}`);
}

/** Runs the command (in `group`, if given) and samples its memory until it exits. */
async function watch(command: string[], group: string | undefined): Promise<object> {
  const [program, ...args] = group === undefined ? command : ['sh', '-c', `echo $$ > ${join(group, 'cgroup.procs')} && exec "$@"`, 'sh', ...command];
  const started = performance.now();
  const child = spawn(program!, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const peak = { VmHWM: 0, RssAnon: 0, RssFile: 0 };
  const timer = setInterval(() => {
    void status(child.pid ?? 0).then((s) => {
      for (const key of Object.keys(peak) as (keyof typeof peak)[]) peak[key] = Math.max(peak[key], s[key]);
    });
  }, SAMPLE_MS);
  try {
    const [code, signal] = await new Promise<[number | null, string | null]>((done, fail) => {
      child.on('error', (err) => fail(new Error(`cannot run ${program}: ${err.message}`)));
      child.on('close', (c, s) => done([c, s]));
    });
    return {
      code, signal, wallS: (performance.now() - started) / 1000,
      peakRssGb: peak.VmHWM / GB, peakAnonGb: peak.RssAnon / GB, peakFileGb: peak.RssFile / GB,
      ...(group !== undefined ? { cgroup: await groupReport(group) } : {}),
    };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const o = options();
  for (const file of o.evict) evict(file);
  const group = o.cgroup !== undefined ? await memoryGroup(o.cgroup) : undefined;
  try {
    process.stderr.write(`${JSON.stringify(await watch(o.command, group))}\n`);
  } finally {
    if (group !== undefined) await rmdir(group);
  }
}

await main().catch((err: unknown) => {
  process.stderr.write(`memory-watch: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
