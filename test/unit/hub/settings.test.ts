import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_ENDPOINT, hubCacheDir, hubSettings } from '../../../src/hub/settings.js';
import { resolveToken } from '../../../src/hub/token.js';

test('defaults follow huggingface_hub', () => {
  const s = hubSettings({});
  assert.equal(s.endpoint, DEFAULT_ENDPOINT);
  assert.equal(s.cacheDir, join(homedir(), '.cache', 'huggingface', 'hub'));
  assert.equal(s.tokenFile, join(homedir(), '.cache', 'huggingface', 'token'));
  assert.equal(s.offline, false);
  assert.equal(s.idleTimeoutMs, 10_000);
  assert.equal(hubSettings({ XDG_CACHE_HOME: '/x' }).cacheDir, '/x/huggingface/hub');
});

test('HF_HUB_CACHE beats HF_HOME; HF_HOME moves the cache and the token file', () => {
  assert.equal(hubCacheDir({ HF_HOME: '/h' }), '/h/hub');
  assert.equal(hubCacheDir({ HF_HOME: '/h', HF_HUB_CACHE: '/c' }), '/c');
  assert.equal(hubSettings({ HF_HOME: '/h' }).tokenFile, '/h/token');
  assert.equal(hubSettings({ HF_HOME: '/h', HF_TOKEN_PATH: '/t' }).tokenFile, '/t');
});

test('HF_HUB_OFFLINE takes the values huggingface_hub treats as true', () => {
  for (const v of ['1', 'true', 'YES', 'on']) assert.equal(hubSettings({ HF_HUB_OFFLINE: v }).offline, true, v);
  for (const v of ['0', 'false', '', 'no']) assert.equal(hubSettings({ HF_HUB_OFFLINE: v }).offline, false, v);
});

test('HF_ENDPOINT is normalized or refused with one clear line', () => {
  assert.equal(hubSettings({ HF_ENDPOINT: 'http://127.0.0.1:8080/' }).endpoint, 'http://127.0.0.1:8080');
  assert.equal(hubSettings({ HF_ENDPOINT: 'https://mirror.example/hf/' }).endpoint, 'https://mirror.example/hf');
  assert.throws(() => hubSettings({ HF_ENDPOINT: 'not a url' }), /HF_ENDPOINT is not a URL/);
  assert.throws(() => hubSettings({ HF_ENDPOINT: 'file:///etc' }), /http or https/);
  assert.throws(() => hubSettings({ HF_ENDPOINT: 'https://user:pw@x.example' }), /without credentials/);
  assert.throws(() => hubSettings({ HF_HUB_DOWNLOAD_TIMEOUT: '-1' }), /positive number of seconds/);
});

test('token precedence: --token, then HF_TOKEN, then the token file; a bad token is refused without being shown', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gemma-token-'));
  try {
    const file = join(dir, 'token');
    assert.equal(await resolveToken(undefined, undefined, file), undefined);
    await writeFile(file, 'hf_fromFILE\n');
    assert.deepEqual(await resolveToken(undefined, undefined, file), { value: 'hf_fromFILE', source: file });
    assert.deepEqual(await resolveToken(undefined, 'hf_fromENV', file), { value: 'hf_fromENV', source: 'HF_TOKEN' });
    assert.deepEqual(await resolveToken('hf_fromFLAG', 'hf_fromENV', file), { value: 'hf_fromFLAG', source: '--token' });
    assert.deepEqual(await resolveToken('', '  ', file), { value: 'hf_fromFILE', source: file });
    for (const bad of ['secretTOKEN123', 'hf_sec ret', 'hf_secret\nx']) {
      await assert.rejects(resolveToken(bad, undefined, file), (err: Error) => {
        assert.match(err.message, /the token from --token is not a Hugging Face access token/);
        assert.ok(!err.message.includes('secret'));
        return true;
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
