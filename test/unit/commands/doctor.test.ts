import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gemma } from '../../helpers/cli.js';

test('gemma doctor --json reports versions, CPU, working providers and CUDA libraries, and exits 0', async () => {
  const result = await gemma(['doctor', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Record<string, unknown> & {
    providers: { cpu: { ok: boolean }; cuda: { ok: boolean } };
    providerLibs: { dir: string; files: { name: string; present: boolean }[] };
    cpu: { cores: number };
    problems: string[];
  };
  assert.equal(report.node, process.version);
  assert.equal(report.onnxruntime, '1.29.0');
  assert.ok(report.cpu.cores >= 1);
  assert.equal(report.providers.cpu.ok, true);
  assert.match(report.providerLibs.dir, /onnxruntime-node\/bin\/napi-v6\/linux\/x64$/);
  assert.deepEqual(report.providerLibs.files.map((f) => f.name), ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so']);
  if (!report.providers.cuda.ok) assert.ok(report.problems.length > 0, 'a CUDA provider that does not work comes with problems to fix');
});

test('gemma doctor prints an aligned report', async () => {
  const result = await gemma(['doctor']);
  assert.equal(result.code, 0, result.stderr);
  for (const label of ['node', 'onnxruntime', 'cpu', 'providers', 'gpu', 'driver', 'cuda libs', 'cudnn', 'to fix']) {
    assert.match(result.stdout, new RegExp(`^${label} +\\S`, 'm'), label);
  }
  assert.match(result.stdout, /^providers +cpu +works \(/m);
});
