import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { probeExecutionProvider, probeReason } from '../../../src/cuda/ep-probe.js';

const NO_CUBLAS = '\x1b[1;31m2026-01-01 00:00:00.0 [E:onnxruntime:onnxruntime-node, provider_bridge_ort.cc:2146 Create] /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library /ort/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory\x1b[m\n';

test('probeReason picks the logged load failure over the generic exception', () => {
  assert.equal(
    probeReason('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library', NO_CUBLAS),
    'Failed to load library /ort/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory',
  );
});

test('probeReason otherwise keeps the first line of the message, shortened', () => {
  assert.equal(probeReason('no available backend found. ERR: [dml] backend not found.\nmore', ''), 'no available backend found. ERR: [dml] backend not found.');
  const long = probeReason('x'.repeat(1000), '');
  assert.equal(long.length, 300);
  assert.ok(long.endsWith('…'));
});

test('the cpu provider works', async () => {
  const result = await probeExecutionProvider('cpu');
  assert.equal(result.ok, true, JSON.stringify(result));
});

const gpuMachine = existsSync('/proc/driver/nvidia') && 'an NVIDIA driver is loaded here, so CUDA may work';

test('the cuda provider fails without a GPU, with a one-line reason', { skip: gpuMachine }, async () => {
  const result = await probeExecutionProvider('cuda');
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.match(result.reason, /Failed to load library .*libonnxruntime_providers_(shared|cuda)\.so|libcu/);
    assert.ok(!result.reason.includes('\n'));
  }
});
