import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableFrom, availableMemory, parseMemoryLimit } from '../../../src/runtime/system-memory.js';
import { GemmaError } from '../../../src/util/errors.js';

const MEMINFO = 'MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nBuffers:          100 kB\n';

test('available memory: MemAvailable, or less where a cgroup limit leaves less room', () => {
  assert.equal(availableFrom({ meminfo: MEMINFO }), 20_000_000 * 1024);
  assert.equal(availableFrom({ meminfo: MEMINFO, cgroupMax: 'max\n', cgroupCurrent: '5000000000\n' }), 20_000_000 * 1024, 'v2 without a limit');
  assert.equal(availableFrom({ meminfo: MEMINFO, cgroupMax: '8000000000\n', cgroupCurrent: '3000000000\n' }), 5e9, 'v2 limit minus usage');
  assert.equal(availableFrom({ meminfo: MEMINFO, cgroupV1Limit: '9223372036854771712\n', cgroupV1Usage: '100\n' }), 20_000_000 * 1024, 'v1 without a limit');
  assert.equal(availableFrom({ meminfo: MEMINFO, cgroupV1Limit: '4000000000\n', cgroupV1Usage: '1000000000\n' }), 3e9, 'v1 limit minus usage');
  assert.equal(availableFrom({ cgroupMax: '1000\n', cgroupCurrent: '2000\n' }), 0, 'over the limit already');
  assert.equal(availableFrom({ meminfo: 'MemTotal: 1 kB\n' }), undefined, 'an old kernel without MemAvailable');
  assert.equal(availableFrom({}), undefined);
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
