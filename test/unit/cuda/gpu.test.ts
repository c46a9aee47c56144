import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { findGpus, parseDriverVersion, parseGpuInformation, parseNvidiaSmi } from '../../../src/cuda/gpu.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-gpu-');

const PROPRIETARY = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n';
// OPEN and INFORMATION are verbatim from an H100 machine (open kernel module 580.159.04).
const OPEN = 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n';
const INFORMATION = [
  'Model: \t\t NVIDIA H100 80GB HBM3',
  'IRQ:   \t\t 41',
  'GPU UUID: \t GPU-ea349c50-e32f-f2c5-7c09-28e66e051092',
  'Video BIOS: \t 96.00.da.00.0c',
  'Bus Type: \t PCIe',
  'DMA Size: \t 52 bits',
  'DMA Mask: \t 0xfffffffffffff',
  'Bus Location: \t 0000:00:06.0',
  'Device Minor: \t 0',
  'GPU Firmware: \t 580.159.04',
  'GPU Excluded:\t No',
  '',
].join('\n');

test('parseDriverVersion reads proprietary and open kernel module lines', () => {
  assert.equal(parseDriverVersion(PROPRIETARY), '535.129.03');
  assert.equal(parseDriverVersion(OPEN), '580.159.04');
  assert.equal(parseDriverVersion('something else'), undefined);
});

test('parseGpuInformation splits Key: value lines at the first colon', () => {
  const info = parseGpuInformation(INFORMATION);
  assert.equal(info.Model, 'NVIDIA H100 80GB HBM3');
  assert.equal(info['Bus Location'], '0000:00:06.0');
  assert.equal(info['GPU UUID'], 'GPU-ea349c50-e32f-f2c5-7c09-28e66e051092');
});

test('parseNvidiaSmi reads one GPU a line', () => {
  const parsed = parseNvidiaSmi('NVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB\nNVIDIA GeForce RTX 4090, 580.159.04, 24564 MiB\n');
  assert.equal(parsed.driver, '580.159.04');
  assert.deepEqual(parsed.gpus, [{ name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }, { name: 'NVIDIA GeForce RTX 4090', memoryMiB: 24564 }]);
  assert.deepEqual(parseNvidiaSmi('NVIDIA A100, 535.1, [N/A]\n').gpus, [{ name: 'NVIDIA A100' }]);
  assert.deepEqual(parseNvidiaSmi('').gpus, []);
});

test('findGpus falls back to /proc when nvidia-smi is absent', async () => {
  const proc = await scratch();
  await mkdir(join(proc, 'gpus', '0000:00:06.0'), { recursive: true });
  await writeFile(join(proc, 'version'), OPEN);
  await writeFile(join(proc, 'gpus', '0000:00:06.0', 'information'), INFORMATION);
  const report = await findGpus({ procDir: proc, nvidiaSmi: '/nonexistent/nvidia-smi' });
  assert.deepEqual(report, { gpus: [{ name: 'NVIDIA H100 80GB HBM3', busId: '0000:00:06.0' }], source: 'proc', driver: '580.159.04' });
});

test('findGpus prefers nvidia-smi, and says why it found nothing', async () => {
  const dir = await scratch();
  const smi = join(dir, 'nvidia-smi');
  await writeFile(smi, '#!/bin/sh\necho "NVIDIA L4, 560.35.03, 23034 MiB"\n');
  await chmod(smi, 0o755);
  assert.deepEqual(await findGpus({ nvidiaSmi: smi, procDir: join(dir, 'absent') }), { gpus: [{ name: 'NVIDIA L4', memoryMiB: 23034 }], driver: '560.35.03', source: 'nvidia-smi' });
  const none = await findGpus({ nvidiaSmi: join(dir, 'absent-smi'), procDir: join(dir, 'absent') });
  assert.deepEqual(none, { gpus: [], source: 'none', note: `${join(dir, 'absent')} missing` });
});
