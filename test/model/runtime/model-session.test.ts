import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { MANIFEST_FILE, type Manifest } from '../../../src/export/manifest.js';
import { loadEngine } from '../../../src/runtime/runtime.js';
import { GemmaError } from '../../../src/util/errors.js';
import { bindingCheckpoint, PROMPT, tempDir } from '../../helpers/models.js';

describe('loadEngine', () => {
  let root: string;
  let exportDir: string;

  before(async () => {
    root = await tempDir('session');
    exportDir = join(root, 'int4');
    const format = { precision: 'int4', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu', attention: 'ops' } as const;
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: exportDir, label: 'binding', format });
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('profilePrefix: onnxruntime writes one per-node profile of each stage\'s runs when the engine closes', async () => {
    const profiles = join(root, 'profiles');
    await mkdir(profiles);
    const profiled = await loadEngine(exportDir, { threads: 1, ctxSize: 64, profilePrefix: join(profiles, 'decode') });
    await profiled.feed(PROMPT.slice(0, 4));
    await profiled.close();
    const files = (await readdir(profiles)).sort();
    assert.deepEqual(files.map((f) => f.split('_')[0]), ['decode-stage0', 'decode-stage1']);
    for (const [i, file] of files.entries()) {
      const events = JSON.parse(await readFile(join(profiles, file), 'utf8')) as { cat: string; args?: { op_name?: string } }[];
      const ops = new Set(events.filter((e) => e.cat === 'Node').map((e) => e.args?.op_name));
      assert.ok(ops.has('MatMulNBits') && ops.has('SimplifiedLayerNormalization'), [...ops].join(', '));
      assert.equal(ops.has('GatherBlockQuantized'), i === 0, 'the embedding is in the first stage only');
    }
  });

  let copies = 0;

  /** A copy of the export with its manifest edited by `edit` and its files moved by `move`. */
  async function damaged(edit: (m: Manifest & Record<string, unknown>) => void, move?: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(root, `damaged-${copies++}`);
    await cp(exportDir, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Manifest & Record<string, unknown>;
    edit(manifest);
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    await move?.(dir);
    return dir;
  }

  async function refused(dir: string, what: RegExp): Promise<void> {
    await assert.rejects(loadEngine(dir, { threads: 1, ctxSize: 64 }), (err: unknown) => {
      assert.ok(err instanceof GemmaError, String(err));
      assert.match(err.message, /^the export in .* is damaged \(.*\): convert the checkpoint again with gemma quantize$/);
      assert.match(err.message, what);
      return true;
    });
  }

  test('a gemma.json missing a field, or naming a file outside the export, is damaged', async () => {
    await refused(await damaged((m) => delete (m as Partial<Manifest>).weights), /'weights' in gemma\.json is missing or invalid/);
    await refused(await damaged((m) => (m.weights.precision = 'int3' as 'int4')), /'weights\.precision'/);
    await refused(await damaged((m) => (m.stages[0]!.file = '../int4/model-1-of-2.onnx')), /'stages'/);
  });

  test('sizes edited in gemma.json that the graphs contradict are refused before the first token', async () => {
    await refused(await damaged((m) => (m.config.hidden_size = 512)), /hidden_states\.2 in model-1-of-2\.onnx is \[\?, 256\], gemma\.json implies \[\?, 512\]/);
    await refused(await damaged((m) => (m.config.vocab_size = 4096)), /logits in model-2-of-2\.onnx is \[1, \?, 2048\], gemma\.json implies \[1, \?, 4096\]/);
    await refused(await damaged((m) => (m.config.num_key_value_heads = 1)), /past_key_values\.0\.key in model-1-of-2\.onnx is \[2, \?, 64\]/);
  });

  test('a context past the graph\'s rotary table is refused: max_position_embeddings must match the table', async () => {
    await refused(await damaged((m) => (m.config.max_position_embeddings = 4096)), /the rotary table in model-1-of-2\.onnx holds 128 positions, gemma\.json says max_position_embeddings 4096/);
  });

  test('swapped stage files are refused', async () => {
    const swap = async (dir: string): Promise<void> => {
      await rename(join(dir, 'model-1-of-2.onnx'), join(dir, 'swap'));
      await rename(join(dir, 'model-2-of-2.onnx'), join(dir, 'model-1-of-2.onnx'));
      await rename(join(dir, 'swap'), join(dir, 'model-2-of-2.onnx'));
    };
    await refused(await damaged(() => undefined, swap), /model-1-of-2\.onnx has no input_ids, which gemma\.json implies for layers 0 to 1/);
  });
});
