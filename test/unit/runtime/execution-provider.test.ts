import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conversionTarget, runTarget, type CudaState } from '../../../src/runtime/execution-provider.js';

const ready: CudaState = { ready: true, gpu: true, problems: [] };
const noGpu: CudaState = { ready: false, gpu: false, problems: ['no NVIDIA GPU found'] };
const missingLibs: CudaState = { ready: false, gpu: true, problems: ['libcublasLt.so.13 not found (install cuBLAS 13)'] };

test('checkpoints are converted for CUDA when it is usable, unless --ep cpu', () => {
  assert.deepEqual(conversionTarget('auto', ready), { ep: 'cuda' });
  assert.deepEqual(conversionTarget('cuda', ready), { ep: 'cuda' });
  assert.deepEqual(conversionTarget('cpu', ready), { ep: 'cpu' });
});

test('auto falls back to the CPU: silently without a GPU, with a notice naming what is missing when a GPU is there', () => {
  assert.deepEqual(conversionTarget('auto', noGpu), { ep: 'cpu' });
  const d = conversionTarget('auto', missingLibs);
  assert.equal(d.ep, 'cpu');
  assert.match(d.notice!, /libcublasLt\.so\.13 not found.*using the CPU/);
});

test('--ep cuda without a usable CUDA is a one-line error naming what is missing', () => {
  assert.throws(() => conversionTarget('cuda', missingLibs), /^GemmaError: --ep cuda: CUDA is not usable here: libcublasLt\.so\.13 not found \(install cuBLAS 13\)$/m);
  assert.throws(() => conversionTarget('cuda', noGpu), /no NVIDIA GPU/);
});

test('an export runs on the EP it was built for; the other EP is refused with the conversion to run', () => {
  assert.equal(runTarget('auto', 'cpu', noGpu), 'cpu');
  assert.equal(runTarget('auto', 'cpu', ready), 'cpu');
  assert.equal(runTarget('cuda', 'cuda', ready), 'cuda');
  assert.throws(() => runTarget('cuda', 'cpu', ready), /built for cpu, not cuda: .*gemma quantize --ep cuda/);
  assert.throws(() => runTarget('cpu', 'cuda', ready), /built for cuda, not cpu: .*gemma quantize --ep cpu/);
  assert.throws(() => runTarget('auto', 'cuda', missingLibs), /built for CUDA and CUDA is not usable here: libcublasLt/);
});
