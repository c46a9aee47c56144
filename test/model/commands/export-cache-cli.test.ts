import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { generateRandomCheckpoint } from '../../../src/checkpoint/random-checkpoint.js';
import { localExportName } from '../../../src/commands/model-source.js';
import { DATA_FILE, MANIFEST_FILE, type Manifest } from '../../../src/export/manifest.js';
import { finished, gemma, GEMMA_BIN, startGemma, type CliResult } from '../../helpers/cli.js';
import { Terminal } from '../../helpers/pty.js';
import { BINDING_CONFIG, BINDING_OPTIONS, bindingCheckpoint, realVocabCheckpoint } from '../../helpers/models.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const scratch = tempDirs('gemma-export-cache-');
const VARIANT = 'int4-b64-asym';

const answer = (r: CliResult): number[] => {
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { ids: number[] }).ids;
};
const ask = (model: string, env: Record<string, string>): Promise<CliResult> => gemma(['run', model, '-p', 'Hi', '-n', '6', '--temp', '0', '--ep', 'cpu', '--json'], env);
/** The export's weights, as converted: what tells one conversion from another (the random test models' greedy answers barely depend on their weights). */
const weightsOf = async (dir: string): Promise<string> => createHash('sha256').update(await readFile(join(dir, DATA_FILE))).digest('hex');
const manifestOf = async (dir: string): Promise<Manifest> => JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;

/** Everything under `dir` that a conversion or a lock leaves while it runs. */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (/\.tmp-\d+$|\.lock/.test(entry.name)) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

describe('checkpoints converted on first use', () => {
  test('a checkpoint replaced in place is converted again, with a notice; an unchanged one is reused', async () => {
    const root = await scratch();
    const env = { GEMMA_HOME: join(root, 'home') };
    const ck = join(root, 'ck');
    const slot = join(root, 'home', 'models', localExportName(ck), VARIANT);
    await cp(await bindingCheckpoint(), ck, { recursive: true });
    const first = await ask(ck, env);
    answer(first);
    assert.equal(first.stderr, '');
    const before = await manifestOf(slot);
    const config = await readFile(join(ck, 'config.json'), 'utf8');
    await writeFile(join(ck, 'config.json'), config);
    const rewritten = await ask(ck, env);
    answer(rewritten);
    assert.equal(rewritten.stderr, '');
    assert.equal((await manifestOf(slot)).created, before.created, 'the same config content is the same checkpoint');

    const weights = await weightsOf(slot);
    await rm(ck, { recursive: true });
    await generateRandomCheckpoint(ck, { ...BINDING_OPTIONS, config: BINDING_CONFIG, seed: 99 });
    const changed = await ask(ck, env);
    answer(changed);
    assert.match(changed.stderr, new RegExp(`^gemma: ${ck} changed since its ${VARIANT} export \\([\\w.-]+ changed\\); converting it again\\n$`));
    assert.notEqual(await weightsOf(slot), weights);
    const converted = (await manifestOf(slot)).created;
    const again = await ask(ck, env);
    answer(again);
    assert.equal(again.stderr, '');
    assert.equal((await manifestOf(slot)).created, converted);

    await writeFile(join(ck, 'config.json'), config.replace('"final_logit_softcapping": 30', '"final_logit_softcapping": 5'));
    assert.match((await ask(ck, env)).stderr, /\(config\.json changed\); converting it again\n$/);
    assert.deepEqual(await leftovers(root), []);
  });

  test('two checkpoints in folders of the same name get an export each; an export without the record of its source is converted again', async () => {
    const root = await scratch();
    const env = { GEMMA_HOME: join(root, 'home') };
    const [a, b] = [join(root, 'a', 'ck'), join(root, 'b', 'ck')];
    await cp(await bindingCheckpoint(), a, { recursive: true });
    await generateRandomCheckpoint(b, { ...BINDING_OPTIONS, config: BINDING_CONFIG, seed: 7 });
    const fromA = answer(await ask(a, env));
    answer(await ask(b, env));
    assert.deepEqual((await readdir(join(root, 'home', 'models'))).sort(), [localExportName(a), localExportName(b)].sort());
    assert.match(localExportName(a), /^ck-[0-9a-f]{8}$/);
    const [exportA, exportB] = [a, b].map((ck) => join(root, 'home', 'models', localExportName(ck), VARIANT));
    assert.equal((await manifestOf(exportA!)).source.path, a);
    assert.equal((await manifestOf(exportB!)).source.path, b);
    assert.notEqual(await weightsOf(exportA!), await weightsOf(exportB!));
    const weightsA = await weightsOf(exportA!);
    assert.deepEqual(answer(await ask(a, env)), fromA);
    assert.equal(await weightsOf(exportA!), weightsA, 'running b did not replace a\'s export');

    const old = await manifestOf(exportA!);
    delete old.source.files;
    await writeFile(join(exportA!, MANIFEST_FILE), JSON.stringify(old));
    const reconverted = await ask(a, env);
    assert.deepEqual(answer(reconverted), fromA);
    assert.match(reconverted.stderr, /made by an earlier gemma, which did not record the checkpoint's files\); converting it again\n$/);
    assert.ok((await manifestOf(exportA!)).source.files?.['config.json']?.startsWith('sha256:'));
  });

  test('Ctrl-C during the first-use conversion of gemma run: exit 130, one line, no temporary folder left', async () => {
    const root = await scratch();
    const env = { GEMMA_HOME: join(root, 'home') };
    const checkpoint = await realVocabCheckpoint();
    const slot = join(root, 'home', 'models', localExportName(checkpoint));
    const child = startGemma(['run', checkpoint, '-p', 'Hi', '--ep', 'cpu'], env);
    const result = finished(child);
    while (!(await readdir(slot).catch(() => [])).some((f) => f.startsWith(`.${VARIANT}.tmp-`))) await sleep(5);
    child.kill('SIGINT');
    const r = await result;
    assert.equal(r.code, 130);
    assert.equal(r.stderr, `gemma: error: interrupted while converting ${localExportName(checkpoint)}: nothing was written\n`);
    assert.deepEqual(await readdir(slot), []);
  });

  test('on a terminal, Ctrl-C during the first-use conversion shows the cursor again', async () => {
    const root = await scratch();
    const checkpoint = await realVocabCheckpoint();
    const term = new Terminal(`${process.execPath} ${GEMMA_BIN} run ${checkpoint} -p Hi --ep cpu`, { GEMMA_HOME: join(root, 'home') });
    const hidden = await term.waitFor(/\u001b\[\?25l/);
    await term.waitFor(/Converting/, hidden);
    term.type('\u0003');
    assert.equal(await term.exited, 130, term.output);
    assert.match(term.output.slice(hidden), /\u001b\[\?25h/);
    assert.deepEqual(await readdir(join(root, 'home', 'models', localExportName(checkpoint))), []);
  });

  test('three gemma run at once on a fresh home: all answer, from one generated checkpoint and one export', async () => {
    const root = await scratch();
    const env = { GEMMA_HOME: join(root, 'home') };
    const runs = await Promise.all([0, 1, 2].map(() => ask('tiny-random', env)));
    const answers = runs.map(answer);
    assert.deepEqual(runs.map((r) => r.stderr), ['', '', ''], 'no spinner when piped');
    assert.deepEqual(answers, [answers[0], answers[0], answers[0]]);
    assert.deepEqual(await readdir(join(root, 'home', 'checkpoints')), ['tiny-random-v1']);
    assert.deepEqual(await readdir(join(root, 'home', 'models', 'tiny-random')), [VARIANT]);

    const ck = join(root, 'ck');
    await cp(await bindingCheckpoint(), ck, { recursive: true });
    const local = await Promise.all([0, 1, 2].map(() => ask(ck, env)));
    for (const r of local) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(join(root, 'home', 'models', localExportName(ck))), [VARIANT]);
    assert.deepEqual(await leftovers(root), []);
  });

  test('on a terminal, a process that finds the export being converted by another one says so, waits, then converts', async () => {
    const root = await scratch();
    const env = { GEMMA_HOME: join(root, 'home') };
    const slot = join(root, 'home', 'models', 'tiny-random');
    await mkdir(slot, { recursive: true });
    const holder = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(join(slot, `.${VARIANT}.lock`))}, String(process.pid)); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout!, 'data');
    const term = new Terminal(`${process.execPath} ${GEMMA_BIN} run tiny-random -p Hi -n 2 --ep cpu`, env);
    try {
      await term.waitFor(new RegExp(`waiting for another gemma process \\(pid ${holder.pid}\\) converting tiny-random to ${VARIANT}`));
      assert.deepEqual(await readdir(slot), [`.${VARIANT}.lock`], 'nothing converted while the other process holds the lock');
    } finally {
      holder.kill('SIGKILL');
    }
    assert.equal(await term.exited, 0, term.output);
    assert.deepEqual(await readdir(slot), [VARIANT]);
  });

  test('a temporary folder left by a killed conversion is swept by the next conversion to the same place', async () => {
    const root = await scratch();
    const env = { GEMMA_HOME: join(root, 'home') };
    const slot = join(root, 'home', 'models', 'tiny-random');
    const killed = startGemma(['quantize', 'tiny-random'], env);
    const result = finished(killed);
    while (!(await readdir(slot).catch(() => [])).some((f) => f.startsWith(`.${VARIANT}.tmp-`))) await sleep(5);
    killed.kill('SIGKILL');
    await result;
    const left = `.${VARIANT}.tmp-${killed.pid}`;
    await mkdir(join(slot, '.fp32.tmp-1'));
    assert.ok((await readdir(slot)).includes(left));
    assert.equal(answer(await ask('tiny-random', env)).length, 6);
    assert.deepEqual((await readdir(slot)).sort(), ['.fp32.tmp-1', VARIANT], 'a folder of a live process (pid 1) stays');
  });
});
