import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { CUDA_PROVIDER_PACKAGE, npmRegistry, ortLibDir, ortNodeVersion, tarballUrl } from '../../../src/cuda/provider-package.js';

test('the pinned provider libraries are for the onnxruntime that is installed', () => {
  assert.equal(CUDA_PROVIDER_PACKAGE.ortVersion, ort.env.versions.common);
  assert.equal(ortNodeVersion(), ort.env.versions.common);
});

test('ortLibDir is the folder holding libonnxruntime.so.1', () => {
  assert.ok(existsSync(join(ortLibDir(), 'libonnxruntime.so.1')), ortLibDir());
});

test('tarballUrl is the URL npm uses, under any registry', () => {
  const url = 'https://registry.npmjs.org/com.github.asus4.onnxruntime.linux-x64-gpu/-/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz';
  assert.equal(tarballUrl(CUDA_PROVIDER_PACKAGE, npmRegistry({})), url);
  assert.equal(tarballUrl(CUDA_PROVIDER_PACKAGE, 'http://127.0.0.1:4873'), url.replace('https://registry.npmjs.org', 'http://127.0.0.1:4873'));
  assert.equal(tarballUrl({ ...CUDA_PROVIDER_PACKAGE, name: '@scope/pkg' }, 'http://r/'), `http://r/@scope/pkg/-/pkg-0.4.9.tgz`);
  assert.equal(npmRegistry({ npm_config_registry: 'http://mirror/' }), 'http://mirror/');
});
