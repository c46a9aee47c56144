import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, truncate, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSafetensors } from '../../../src/checkpoint/safetensors.js';
import { MANIFEST_FILE, type Manifest } from '../../../src/export/manifest.js';
import { ATTENTION_KERNELS, DEFAULT_ATTENTION } from '../../../src/quantize/precision.js';
import { TABLES_FILE } from '../../../src/tokenizer/tables-file.js';
import { finished, gemma, startGemma } from '../../helpers/cli.js';
import { bindingCheckpoint, realVocabCheckpoint, tempDir } from '../../helpers/models.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

describe('gemma quantize', () => {
  let root: string;
  let env: Record<string, string>;

  before(async () => {
    root = await tempDir('cli');
    env = { GEMMA_HOME: join(root, 'home') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('tiny-random: default int4 export into GEMMA_HOME, path on stdout, no progress drawn when piped', async () => {
    const r = await gemma(['quantize', 'tiny-random'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.trim();
    assert.equal(out, join(root, 'home', 'models', 'tiny-random', 'int4-b64-asym'));
    for (const file of ['model-1-of-2.onnx', 'model-2-of-2.onnx', 'model.onnx.data', 'gemma.json', 'tokenizer.json', 'tokenizer_config.json', TABLES_FILE, 'generation_config.json']) {
      assert.ok(await exists(join(out, file)), file);
    }
    const manifest = JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8')) as Manifest;
    assert.match(manifest.source.label, /RANDOM WEIGHTS/);
    assert.deepEqual(manifest.weights, { precision: 'int4', blockSize: 64, asymmetric: true, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' });
    assert.equal(manifest.ep, 'cpu');
    assert.deepEqual(manifest.stages, [{ file: 'model-1-of-2.onnx', layers: [0, 2] }, { file: 'model-2-of-2.onnx', layers: [2, 4] }]);
    assert.ok(manifest.files.tokenizer.includes(TABLES_FILE));
    assert.equal(manifest.config.model_type, 'gemma2');
    assert.ok(!r.stderr.includes('\u001b['), 'no terminal control codes');
  });

  test('int8 without --block-size takes its own default block of 128', async () => {
    const r = await gemma(['quantize', 'tiny-random', '--precision', 'int8'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), join(root, 'home', 'models', 'tiny-random', 'int8-b128'));
    const manifest = JSON.parse(await readFile(join(r.stdout.trim(), MANIFEST_FILE), 'utf8')) as Manifest;
    assert.equal(manifest.weights.blockSize, 128);
  });

  test('--attention picks the kernel: recorded in gemma.json, named in the variant when not the default, and the export runs', async () => {
    const other = ATTENTION_KERNELS.find((k) => k !== DEFAULT_ATTENTION)!;
    const r = await gemma(['quantize', 'tiny-random', '--attention', other], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), join(root, 'home', 'models', 'tiny-random', `int4-b64-asym-${other}`));
    const manifest = JSON.parse(await readFile(join(r.stdout.trim(), MANIFEST_FILE), 'utf8')) as Manifest;
    assert.equal(manifest.weights.attention, other);
    const run = await gemma(['run', r.stdout.trim(), '-p', 'hi', '-n', '4', '--temp', '0', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const { ids } = JSON.parse(run.stdout) as { ids: number[] };
    assert.ok(ids.length >= 1 && ids.length <= 4, `${ids.length} tokens`);
    const bad = await gemma(['quantize', 'tiny-random', '--attention', 'flash'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--attention/);
  });

  test('quantization options with --precision fp32 are refused in one line', async () => {
    const cases: [string[], RegExp][] = [
      [['--scheme', 'asymmetric'], /^gemma: error: --scheme applies to int4 and int8: --precision fp32 keeps every weight in fp32\n$/],
      [['--block-size', '64', '--keep-embeddings'], /^gemma: error: --block-size, --keep-embeddings apply to int4 and int8: .*\n$/],
    ];
    for (const [extra, message] of cases) {
      const r = await gemma(['quantize', 'tiny-random', '--precision', 'fp32', '--out', join(root, 'fp32-refused'), ...extra], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.equal(await exists(join(root, 'fp32-refused')), false);
    }
  });

  test('--ep cuda: an int4-b32-cuda export recorded as such; fp32 and --keep-embeddings are refused for CUDA', async () => {
    const r = await gemma(['quantize', 'tiny-random', '--ep', 'cuda'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), join(root, 'home', 'models', 'tiny-random', 'int4-b32-cuda'));
    const manifest = JSON.parse(await readFile(join(r.stdout.trim(), MANIFEST_FILE), 'utf8')) as Manifest;
    assert.equal(manifest.ep, 'cuda');
    assert.equal(manifest.weights.accuracyLevel, 0);
    assert.deepEqual(manifest.stages, [{ file: 'model.onnx', layers: [0, 4] }]);
    for (const extra of [['--precision', 'fp32'], ['--keep-embeddings']]) {
      const bad = await gemma(['quantize', 'tiny-random', '--ep', 'cuda', '--out', join(root, 'refused'), ...extra], env);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^gemma: error: the CUDA graph needs quantized weights .*\n$/);
      assert.equal(await exists(join(root, 'refused')), false);
    }
  });

  test('--stages 1 writes one self-contained model.onnx; more stages than layers, or several on CUDA, are refused', async () => {
    const one = await gemma(['quantize', 'tiny-random', '--stages', '1', '--out', join(root, 'one-graph'), '--json'], env);
    assert.equal(one.code, 0, one.stderr);
    assert.equal((JSON.parse(one.stdout) as { stages: number }).stages, 1);
    assert.ok(await exists(join(root, 'one-graph', 'model.onnx')));
    const refusals: [string[], RegExp][] = [
      [['--stages', '5'], /^gemma: error: --stages must be from 1 to 4 \(the model's layers\), got 5\n$/],
      [['--stages', '2', '--ep', 'cuda'], /^gemma: error: CUDA exports are one graph: --stages 1\n$/],
    ];
    for (const [extra, message] of refusals) {
      const bad = await gemma(['quantize', 'tiny-random', '--out', join(root, 'refused'), ...extra], env);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, message);
      assert.equal(await exists(join(root, 'refused')), false);
    }
  });

  test('--json prints one JSON object and nothing on stderr; a second run replaces the export', async () => {
    const out = join(root, 'json-export');
    for (let i = 0; i < 2; i++) {
      const r = await gemma(['quantize', 'tiny-random', '--out', out, '--precision', 'int8', '--block-size', '64', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const summary = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(summary.out, out);
      assert.equal(summary.precision, 'int8');
      assert.equal(summary.blockSize, 64);
      assert.ok((summary.dataBytes as number) > 0);
    }
    assert.deepEqual((await readdir(root)).filter((f) => f.includes('.tmp-') || f.includes('.old-') || f.includes('.lock')), []);
  });

  test('exporting again into a folder replaces only the files of the earlier export: what the user added stays', async () => {
    const out = join(root, 'kept');
    assert.equal((await gemma(['quantize', 'tiny-random', '--out', out, '--stages', '1'], env)).code, 0);
    await writeFile(join(out, 'notes.txt'), 'mine');
    await mkdir(join(out, 'results'));
    await writeFile(join(out, 'results', 'run-1.json'), '{}');
    const again = await gemma(['quantize', 'tiny-random', '--out', out], env);
    assert.equal(again.code, 0, again.stderr);
    const files = await readdir(out);
    assert.ok(!files.includes('model.onnx'), 'the earlier export\'s graph is gone');
    assert.ok(files.includes('model-1-of-2.onnx') && files.includes('model-2-of-2.onnx'));
    assert.equal(await readFile(join(out, 'notes.txt'), 'utf8'), 'mine');
    assert.equal(await readFile(join(out, 'results', 'run-1.json'), 'utf8'), '{}');
    const manifest = JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8')) as Manifest;
    assert.equal(manifest.stages.length, 2);

    await writeFile(join(out, 'model.onnx'), 'a file of the user named like a graph');
    const clash = await gemma(['quantize', 'tiny-random', '--out', out, '--stages', '1'], env);
    assert.equal(clash.code, 1);
    assert.equal(clash.stderr, `gemma: error: output ${out} holds model.onnx, which is not part of its earlier export; move it away or choose another --out\n`);
    assert.equal(await readFile(join(out, 'model.onnx'), 'utf8'), 'a file of the user named like a graph');
    assert.deepEqual(JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8')), manifest, 'the earlier export is untouched');
    assert.deepEqual((await readdir(root)).filter((f) => f.includes('.tmp-') || f.includes('.lock')), []);
  });

  test('--out \'\' is refused in one line', async () => {
    const r = await gemma(['quantize', 'tiny-random', '--out', ''], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gemma: error: --out is empty: name the folder to write the export to[^\n]*\n$/);
  });

  test('a temporary folder left by a killed export to the same --out is swept; those of live processes stay', async () => {
    const dead = startGemma(['--version']);
    await finished(dead);
    const stale = join(root, `.swept.tmp-${dead.pid}`);
    const live = join(root, `.swept.tmp-${process.pid}`);
    await mkdir(stale);
    await mkdir(live);
    assert.equal((await gemma(['quantize', 'tiny-random', '--out', join(root, 'swept')], env)).code, 0);
    assert.ok(!(await exists(stale)));
    assert.ok(await exists(live));
    await rm(live, { recursive: true });
  });

  const signals: [NodeJS.Signals, number][] = [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]];
  for (const [signal, code] of signals) {
    test(`${signal} mid-conversion stops cleanly: exit ${code}, one line, nothing left behind`, async () => {
      const checkpoint = await realVocabCheckpoint();
      const out = join(root, 'interrupted');
      const child = startGemma(['quantize', checkpoint, '--out', out, '--precision', 'fp32'], env);
      const result = finished(child);
      while (!(await readdir(root)).some((f) => f.startsWith('.interrupted.tmp-'))) await sleep(5);
      child.kill(signal);
      const r = await result;
      assert.equal(r.code, code);
      assert.equal(r.stderr, 'gemma: error: interrupted: no output written\n');
      assert.ok(!(await exists(out)));
      assert.deepEqual((await readdir(root)).filter((f) => f.includes('interrupted')), []);
    });
  }
});

/** Copies the test checkpoint and damages the copy; `gemma quantize` must refuse it in one line and write nothing. */
describe('gemma quantize on bad input: one line, exit 1, no output folder', () => {
  let root: string;
  let good: string;
  before(async () => {
    root = await tempDir('cli-bad');
    good = await bindingCheckpoint();
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function damaged(name: string, damage: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(root, name);
    await cp(good, dir, { recursive: true });
    await damage(dir);
    return dir;
  }

  const shard = (dir: string): string => join(dir, 'model-00002-of-00003.safetensors');

  const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
    ['truncated safetensors', async (dir) => truncate(shard(dir), (await stat(shard(dir))).size - 100), /truncated/],
    ['header claiming more bytes than the file', async (dir) => {
      const handle = await open(shard(dir), 'r+');
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(50_000_000n);
      await handle.write(prefix, 0, 8, 0);
      await handle.close();
    }, /header claims/],
    ['a Gemma 3 config', async (dir) => {
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'] }));
    }, /unsupported architecture.*Gemma 3/],
    ['a missing shard', (dir) => rm(shard(dir)), /missing shard model-00002-of-00003.safetensors/],
    ['no tokenizer.json', (dir) => rm(join(dir, 'tokenizer.json')), /missing tokenizer.json/],
    ['a tokenizer.json that is not JSON', (dir) => writeFile(join(dir, 'tokenizer.json'), '{'), /^gemma: error: cannot read \S+\/a-tokenizer-json-that-is-not-JSON\/tokenizer\.json\n$/],
    ['a tokenizer_config.json that is not JSON', (dir) => writeFile(join(dir, 'tokenizer_config.json'), '{'), /^gemma: error: cannot read \S+\/a-tokenizer_config-json-that-is-not-JSON\/tokenizer_config\.json\n$/],
    ['a tokenizer.json that is not Gemma 2\'s', async (dir) => {
      const tokenizer = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ ...tokenizer, pre_tokenizer: { type: 'Whitespace' } }));
    }, /unsupported tokenizer.json: a pre-tokenizer/],
    ['a NaN weight', async (dir) => {
      const file = await openSafetensors(shard(dir));
      await file.handle.close();
      const entry = [...file.tensors.values()].find((t) => t.shape.length === 2)!;
      const nan = Buffer.alloc(2);
      nan.writeUInt16LE(0x7fc0);
      const handle = await open(shard(dir), 'r+');
      await handle.write(nan, 0, 2, entry.offset + 2 * entry.shape[1]! * 3);
      await handle.close();
    }, /has a non-finite value \(NaN\) in row 3/],
  ];

  for (const [what, damage, message] of cases) {
    test(what, async () => {
      const dir = await damaged(what.replace(/\W+/g, '-'), damage);
      const out = join(root, `out-${what.replace(/\W+/g, '-')}`);
      const r = await gemma(['quantize', dir, '--out', out]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gemma: error: [^\n]+\n$/);
      assert.match(r.stderr, message);
      assert.ok(!(await exists(out)));
      assert.deepEqual((await readdir(root)).filter((f) => f.includes('.tmp-')), []);
    });
  }

  test('weights too large for a CUDA export\'s fp16 scales: one line for CUDA, while the CPU export takes them', async () => {
    const dir = await damaged('huge-weight', async (d) => {
      const file = await openSafetensors(shard(d));
      await file.handle.close();
      const entry = [...file.tensors.values()].find((t) => t.shape.length === 2)!;
      const huge = Buffer.alloc(2);
      huge.writeUInt16LE(0x4b00); // bf16 8388608: 2^23, far past what 65504 fp16 steps reach
      const handle = await open(shard(d), 'r+');
      await handle.write(huge, 0, 2, entry.offset + 2 * entry.shape[1]! * 5);
      await handle.close();
    });
    const cuda = await gemma(['quantize', dir, '--ep', 'cuda', '--out', join(root, 'huge-cuda')]);
    assert.equal(cuda.code, 1);
    assert.match(cuda.stderr, /^gemma: error: tensor '[^']+' has weights too large for float16 quantization scales in row 5\n$/);
    assert.ok(!(await exists(join(root, 'huge-cuda'))));
    const cpu = await gemma(['quantize', dir, '--out', join(root, 'huge-cpu')]);
    assert.equal(cpu.code, 0, cpu.stderr);
  });

  test('an output path that cannot be created', async () => {
    await writeFile(join(root, 'a-file'), 'x');
    const r = await gemma(['quantize', good, '--out', join(root, 'a-file', 'model')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gemma: error: cannot create output folder[^\n]+not a directory\n$/);
  });

  test('a full disk: one line, and no partial export left on it', async (t) => {
    const disk = join(root, 'small-disk');
    await mkdir(disk);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk]).status === 0;
    if (!mounted) {
      t.skip('mounting a 2 MB tmpfs needs root');
      return;
    }
    try {
      const r = await gemma(['quantize', good, '--out', join(disk, 'model')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gemma: error: writing [^\n]+: no space left on device\n$/);
      assert.deepEqual(await readdir(disk), []);
    } finally {
      spawnSync('umount', [disk]);
    }
  });

  test('an existing folder that is not an export is never replaced', async () => {
    const out = join(root, 'precious');
    await cp(good, out, { recursive: true });
    const r = await gemma(['quantize', good, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exists and is not a gemma export/);
    assert.ok(await exists(join(out, 'config.json')));
  });

  const badArgs: [string[], RegExp][] = [
    [['--block-size', '7'], /--block-size.*must be a power of two from 16 to 256/],
    [['--block-size', '512'], /must be a power of two/],
    [['--block-size', 'x'], /must be a number/],
    [['--block-size', '32.5'], /must be an integer/],
    [['--precision', 'int3'], /--precision.*Allowed choices are int4, int8, fp32/],
    [['--accuracy-level', '9'], /must be from 0 to 4/],
    [['--precision', 'int8', '--accuracy-level', '0'], /int8 weights need --accuracy-level 4/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
  ];
  for (const [args, message] of badArgs) {
    test(`flags: ${args.join(' ')}`, async () => {
      const r = await gemma(['quantize', good, '--out', join(root, 'never'), ...args]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gemma: error: [^\n]+\n$/);
      assert.match(r.stderr, message);
      assert.ok(!(await exists(join(root, 'never'))));
    });
  }

  test('a checkpoint argument that is missing, a file, or a Hub repo id not in the cache while offline', async () => {
    await writeFile(join(root, 'plain-file'), 'x');
    const cases: [string, RegExp][] = [
      [join(root, 'nope'), /no such checkpoint folder or Hub repo/],
      [join(root, 'plain-file'), /not a checkpoint folder/],
      ['google/gemma-2-2b-it', /offline mode \(HF_HUB_OFFLINE\) and google\/gemma-2-2b-it@main is not complete in the cache/],
    ];
    for (const [arg, message] of cases) {
      const r = await gemma(['quantize', arg], { HF_HUB_OFFLINE: '1', HF_HOME: join(root, 'hf') });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gemma: error: [^\n]+\n$/);
      assert.match(r.stderr, message);
    }
  });
});
