import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FALLBACK_SAMPLING, generationDefaults, readGenerationDefaults } from '../../../src/runtime/generation-config.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const config = { eos_token_id: 1, vocab_size: 2048 };
const scratch = tempDirs('gemma-generation-config-');

test('each sampling key of generation_config.json alone becomes that sampler default, the rest llama.cpp defaults', () => {
  const cases: [Record<string, unknown>, Partial<typeof FALLBACK_SAMPLING>][] = [
    [{ temperature: 0.3 }, { temperature: 0.3 }],
    [{ top_k: 7 }, { topK: 7 }],
    [{ top_p: 0.5 }, { topP: 0.5 }],
    [{ min_p: 0.2 }, { minP: 0.2 }],
    [{ repetition_penalty: 1.3 }, { repeatPenalty: 1.3 }],
    [{ do_sample: false, temperature: 0.3 }, { temperature: 0 }],
    [{ do_sample: true, temperature: 0.3 }, { temperature: 0.3 }],
    [{ top_p: null }, {}],
  ];
  for (const [raw, changed] of cases) {
    assert.deepEqual(generationDefaults(raw, config).sampling, { ...FALLBACK_SAMPLING, ...changed }, JSON.stringify(raw));
  }
});

test('every eos_token_id is kept; without one, config.json\'s', () => {
  assert.deepEqual(generationDefaults({ eos_token_id: [1, 107] }, config).eosTokenIds, [1, 107]);
  assert.deepEqual(generationDefaults({ eos_token_id: 107 }, config).eosTokenIds, [107]);
  assert.deepEqual(generationDefaults({}, { ...config, eos_token_id: [1, 5] }).eosTokenIds, [1, 5]);
});

test('wrong types and out-of-range values are refused in one line naming the file and the key', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ temperature: -1 }, /'temperature' must be a number ≥ 0, found -1/],
    [{ temperature: 'hot' }, /'temperature' must be a number ≥ 0, found "hot"/],
    [{ top_p: 0 }, /'top_p' must be a number in \(0, 1\], found 0/],
    [{ top_p: 1.5 }, /'top_p' must be a number in \(0, 1\]/],
    [{ top_k: -1 }, /'top_k' must be an integer ≥ 0/],
    [{ top_k: 2.5 }, /'top_k' must be an integer ≥ 0/],
    [{ min_p: 2 }, /'min_p' must be a number from 0 to 1/],
    [{ repetition_penalty: 0 }, /'repetition_penalty' must be a number > 0/],
    [{ do_sample: 'no' }, /'do_sample' must be true or false/],
    [{ eos_token_id: [1, 'x'] }, /'eos_token_id' must be a token id or a list of token ids from 0 to 2047, found \[1,"x"\]/],
    [{ eos_token_id: 2048 }, /'eos_token_id' must be .* from 0 to 2047, found 2048/],
    [{ eos_token_id: [] }, /'eos_token_id' must be/],
    [{ eos_token_id: 1.5 }, /'eos_token_id' must be/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(() => generationDefaults(raw, config, '/m/generation_config.json'), (err: Error) =>
      err.name === 'GemmaError' && err.message.startsWith('/m/generation_config.json: ') && message.test(err.message) && !err.message.includes('\n'), JSON.stringify(raw));
  }
  assert.throws(() => generationDefaults([1], config, 'g.json'), /^GemmaError: g\.json must hold a JSON object/);
});

test('read from a folder: none means the defaults; invalid JSON or a folder in its place is named', async () => {
  const dir = await scratch();
  assert.deepEqual(await readGenerationDefaults(dir, config), { eosTokenIds: [1], sampling: FALLBACK_SAMPLING });
  const file = join(dir, 'generation_config.json');
  await writeFile(file, '{"top_k": 3');
  await assert.rejects(readGenerationDefaults(dir, config), { name: 'GemmaError', message: `${file} is not valid JSON: correct it or delete it` });
  await writeFile(file, '{"top_k": 3}');
  assert.equal((await readGenerationDefaults(dir, config)).sampling.topK, 3);
  const other = await scratch();
  await mkdir(join(other, 'generation_config.json'));
  await assert.rejects(readGenerationDefaults(other, config), { name: 'GemmaError', message: `cannot read ${join(other, 'generation_config.json')}: is a directory` });
});
