import assert from 'node:assert/strict';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateRandomCheckpoint } from '../../../src/checkpoint/random-checkpoint.js';
import { gemma, GEMMA_BIN, type CliResult } from '../../helpers/cli.js';
import { BINDING_CONFIG, BINDING_OPTIONS, tempDir } from '../../helpers/models.js';

/** One line on stderr, status 1: the contract for every problem the user can fix. */
function assertOneLine(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^gemma: error: [^\n]+\n$/);
  assert.match(r.stderr, pattern);
}

describe('hostile files and outputs', () => {
  let root: string;
  let env: Record<string, string>;
  let checkpoint: string;
  let copies = 0;

  before(async () => {
    root = await tempDir('hostile');
    env = { GEMMA_HOME: join(root, 'home') };
    checkpoint = join(root, 'checkpoint');
    await generateRandomCheckpoint(checkpoint, { ...BINDING_OPTIONS, config: { ...BINDING_CONFIG, num_hidden_layers: 2 }, shards: 2 });
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function copyWith(config: Record<string, unknown>): Promise<string> {
    const dir = join(root, `copy-${copies++}`);
    await cp(checkpoint, dir, { recursive: true });
    const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...raw, ...config }));
    return dir;
  }

  /** `gemma args` with stdout on `stdout` (a file descriptor, or a pipe closed before gemma writes). */
  function gemmaTo(args: string[], stdout: number | 'closed-pipe'): Promise<CliResult> {
    const stdio: StdioOptions = ['ignore', stdout === 'closed-pipe' ? 'pipe' : stdout, 'pipe'];
    const child = spawn(process.execPath, [GEMMA_BIN, ...args], { env: { ...process.env, ...env }, stdio });
    if (stdout === 'closed-pipe') child.stdout!.destroy();
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout: '', stderr })));
  }

  test('sizes in config.json that would exhaust memory are refused in one line before anything is allocated', async () => {
    const layers = await gemma(['quantize', await copyWith({ num_hidden_layers: 1e9 }), '--out', join(root, 'out-layers')], env);
    assertOneLine(layers, /config\.json: 'num_hidden_layers' is 1000000000, above the 512 .*correct it in config\.json/);
    const positions = await gemma(['quantize', await copyWith({ max_position_embeddings: 1e15 }), '--out', join(root, 'out-positions')], env);
    assertOneLine(positions, /config\.json: 'max_position_embeddings' is 1000000000000000, above the 131072 /);
  });

  test('an --out or GEMMA_HOME where no folder can be created fails at once instead of spinning in mkdir', { timeout: 60_000 }, async () => {
    const r = await gemma(['quantize', checkpoint, '--out', '/proc/gemma-test/out'], env);
    assertOneLine(r, /cannot create \/proc\/gemma-test: \/proc does not take new folders/);
    const home = await gemma(['run', 'tiny-random', '-p', 'Hi'], { GEMMA_HOME: '/proc/gemma-test' });
    assertOneLine(home, /cannot create \/proc\/gemma-test: \/proc does not take new folders/);
  });

  test('a named pipe as a shard or tokenizer.json is refused instead of blocking on it', { timeout: 60_000 }, async () => {
    for (const name of ['model-00001-of-00002.safetensors', 'tokenizer.json']) {
      const dir = await copyWith({});
      await rm(join(dir, name));
      assert.equal(spawnSync('mkfifo', [join(dir, name)]).status, 0);
      const r = await gemma(['quantize', dir, '--out', join(root, `out-fifo-${copies}`)], env);
      assertOneLine(r, new RegExp(`${join(dir, name).replace(/\./g, '\\.')} is a named pipe, not a file`));
    }
  });

  test('a closed pipe on stdout ends quietly with status 0; a full disk is one line', async () => {
    for (const args of [['run', 'tiny-random', '-p', 'Hi', '-n', '50'], ['list'], ['list', '--json']]) {
      const piped = await gemmaTo(args, 'closed-pipe');
      assert.deepEqual({ code: piped.code, stderr: piped.stderr }, { code: 0, stderr: '' }, args.join(' '));
      const full = openSync('/dev/full', 'w');
      try {
        assertOneLine(await gemmaTo(args, full), /^gemma: error: writing output: no space left on device\n$/);
      } finally {
        closeSync(full);
      }
    }
  });
});
