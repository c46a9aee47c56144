import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableFrom, availableMemory, cgroupFiles, parseMemoryLimit } from '../../../src/runtime/system-memory.js';
import { GemmaError } from '../../../src/util/errors.js';

const MEMINFO = 'MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nBuffers:          100 kB\n';

test('available memory: MemAvailable, or less where a cgroup limit up the tree leaves less room', () => {
  assert.equal(availableFrom({ meminfo: MEMINFO }), 20_000_000 * 1024);
  assert.equal(availableFrom({ meminfo: MEMINFO, groups: [{ limit: 'max\n', usage: '5000000000\n' }] }), 20_000_000 * 1024, 'v2 without a limit');
  assert.equal(availableFrom({ meminfo: MEMINFO, groups: [{ limit: '8000000000\n', usage: '3000000000\n' }] }), 5e9, 'v2 limit minus usage');
  assert.equal(availableFrom({ meminfo: MEMINFO, groups: [{ limit: '9223372036854771712\n', usage: '100\n' }] }), 20_000_000 * 1024, 'v1 without a limit');
  assert.equal(availableFrom({ meminfo: MEMINFO, groups: [{ limit: '4000000000\n', usage: '1000000000\n' }] }), 3e9, 'v1 limit minus usage');
  const nested = [{ limit: 'max\n', usage: '1000000000\n' }, { limit: '6000000000\n', usage: '2000000000\n' }, { limit: 'max\n', usage: '9000000000\n' }];
  assert.equal(availableFrom({ meminfo: MEMINFO, groups: nested }), 4e9, 'a limit on a group above this one (systemd-run -p MemoryMax)');
  assert.equal(availableFrom({ groups: [{ limit: '1000\n', usage: '2000\n' }] }), 0, 'over the limit already');
  assert.equal(availableFrom({ meminfo: MEMINFO, groups: [{}, { limit: '5000000000\n' }] }), 20_000_000 * 1024, 'unreadable files tell nothing');
  assert.equal(availableFrom({ meminfo: 'MemTotal: 1 kB\n' }), undefined, 'an old kernel without MemAvailable');
  assert.equal(availableFrom({}), undefined);
});

test("the cgroup files to read: this process's group and every group above it, v2 or v1's memory controller", () => {
  assert.deepEqual(cgroupFiles('0::/user.slice/run-1.scope\n'), [
    { limit: '/sys/fs/cgroup/user.slice/run-1.scope/memory.max', usage: '/sys/fs/cgroup/user.slice/run-1.scope/memory.current' },
    { limit: '/sys/fs/cgroup/user.slice/memory.max', usage: '/sys/fs/cgroup/user.slice/memory.current' },
    { limit: '/sys/fs/cgroup/memory.max', usage: '/sys/fs/cgroup/memory.current' },
  ]);
  assert.deepEqual(cgroupFiles('9:name=systemd:/\n5:cpu,cpuacct:/x\n4:memory:/process_api/ab\n0::/\n'), [
    { limit: '/sys/fs/cgroup/memory/process_api/ab/memory.limit_in_bytes', usage: '/sys/fs/cgroup/memory/process_api/ab/memory.usage_in_bytes' },
    { limit: '/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes', usage: '/sys/fs/cgroup/memory/process_api/memory.usage_in_bytes' },
    { limit: '/sys/fs/cgroup/memory/memory.limit_in_bytes', usage: '/sys/fs/cgroup/memory/memory.usage_in_bytes' },
    { limit: '/sys/fs/cgroup/memory.max', usage: '/sys/fs/cgroup/memory.current' },
  ], 'a hybrid host: the v1 memory controller, and the unified root');
  assert.deepEqual(cgroupFiles('0::/\n'), [{ limit: '/sys/fs/cgroup/memory.max', usage: '/sys/fs/cgroup/memory.current' }], 'a container: its namespace root');
  assert.deepEqual(cgroupFiles('0::/../../other\n'), [], 'a group outside the namespace cannot be followed');
  assert.deepEqual(cgroupFiles(''), []);
});

test('GEMMA_MEMORY_LIMIT: bytes or a decimal unit; anything else is a one-line error naming it', () => {
  assert.equal(parseMemoryLimit('123456'), 123456);
  assert.equal(parseMemoryLimit('16GB'), 16e9);
  assert.equal(parseMemoryLimit('1.5 gb'), 1.5e9);
  assert.equal(parseMemoryLimit('512MB'), 512e6);
  for (const bad of ['lots', '-1GB', '16 GiB', '']) {
    assert.throws(() => parseMemoryLimit(bad), (err: unknown) => err instanceof GemmaError && err.message.startsWith(`GEMMA_MEMORY_LIMIT=${bad} is not a size`));
  }
  assert.deepEqual(availableMemory({ GEMMA_MEMORY_LIMIT: '2GB' }), { bytes: 2e9, source: 'GEMMA_MEMORY_LIMIT makes' });
});

test('without GEMMA_MEMORY_LIMIT the reader finds what Linux reports', () => {
  const found = availableMemory({});
  assert.ok(found !== undefined && found.bytes > 0 && found.source === 'this machine has');
});
