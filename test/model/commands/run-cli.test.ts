import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { TINY_TOKENIZER_DIR } from '../../../src/checkpoint/tiny-random.js';
import { cudaReadiness } from '../../../src/cuda/provider-status.js';
import { GRAPH_CONTRACT, type Manifest } from '../../../src/export/manifest.js';
import { loadTokenizer } from '../../../src/runtime/tokenizer.js';
import { finished, gemma, GEMMA_BIN } from '../../helpers/cli.js';
import { slowChatCheckpoint, tempDir } from '../../helpers/models.js';
import { Terminal } from '../../helpers/pty.js';

/** The chat prompt for `message` under tiny-random's tokenizer. */
async function promptTokens(message: string): Promise<number> {
  const tokenizer = await loadTokenizer(TINY_TOKENIZER_DIR);
  return tokenizer.encode(`<bos><start_of_turn>user\n${message}<end_of_turn>\n<start_of_turn>model\n`, 'control').length;
}

const hiPromptTokens = (): Promise<number> => promptTokens('Hi');

/** Sends /stats and reads its prompt and generated token counts. */
async function stats(term: Terminal, from: number): Promise<{ prompt: number; run: number; generated: number; at: number }> {
  term.type('/stats\r');
  const at = await term.waitFor(/prompt \d+ tokens \(\d+ run.*generated \d+ tokens/, from);
  const [, prompt, run, generated] = /prompt (\d+) tokens \((\d+) run.*generated (\d+) tokens/.exec(term.output.slice(from, at))!.map(Number);
  return { prompt: prompt!, run: run!, generated: generated!, at };
}

/** `gemma run <args>` on a pseudo-terminal, driven by `session`, and killed whatever happens. */
async function inTerminal(args: string, env: Record<string, string>, session: (term: Terminal) => Promise<void>): Promise<void> {
  const term = new Terminal(`${process.execPath} ${GEMMA_BIN} run ${args}`, env);
  try {
    await session(term);
  } finally {
    term.kill();
  }
}

/** Sends `message`, waits for 20 characters of the answer, stops it with Ctrl-C: where the prompt came back. */
async function interruptedAnswer(term: Terminal, message: string, at: number): Promise<number> {
  term.type(`${message}\r`);
  const answerStart = await term.waitFor(new RegExp(`${message}\\s*\\n`), at);
  await term.waitFor(/[\s\S]{20}/, answerStart);
  term.type('\x03');
  return term.waitFor(/\[interrupted\][\s\S]*> /, answerStart);
}

describe('gemma run', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await tempDir('run');
    env = { GEMMA_HOME: join(root, 'home') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('one-shot -p prints only the answer; the same seed gives the same answer', async () => {
    const args = ['run', 'tiny-random', '-p', 'Hello', '-n', '12', '--seed', '5', '--temp', '0.9'];
    const a = await gemma(args, env);
    assert.equal(a.code, 0, a.stderr);
    assert.ok(a.stdout.length > 1 && a.stdout.endsWith('\n'));
    assert.equal(a.stderr, '', 'no spinner, timings or notices when piped');
    assert.equal((await gemma(args, env)).stdout, a.stdout);
  });

  test('execution providers: --ep cuda without CUDA, and an export run on the EP it was not built for, are one-line errors', async (t) => {
    if ((await cudaReadiness()).ready) return t.skip('CUDA is usable on this machine');
    const noCuda = await gemma(['run', 'tiny-random', '-p', 'Hi', '-n', '2', '--ep', 'cuda'], env);
    assert.equal(noCuda.code, 1);
    assert.match(noCuda.stderr, /^gemma: error: --ep cuda: CUDA is not usable here: [^\n]*\(run: gemma setup cuda\)[^\n]*\n$/);
    const cudaExport = join(root, 'cuda-export');
    assert.equal((await gemma(['quantize', 'tiny-random', '--ep', 'cuda', '--out', cudaExport], env)).code, 0);
    const onCpu = await gemma(['run', cudaExport, '-p', 'Hi', '--ep', 'cpu'], env);
    assert.match(onCpu.stderr, /^gemma: error: this export is built for cuda, not cpu: convert the checkpoint again with gemma quantize --ep cpu\n$/);
    const auto = await gemma(['run', cudaExport, '-p', 'Hi'], env);
    assert.match(auto.stderr, /^gemma: error: this export is built for CUDA and CUDA is not usable here: .*\n$/);
    const cpuExport = (await gemma(['quantize', 'tiny-random'], env)).stdout.trim();
    assert.match((await gemma(['run', cpuExport, '-p', 'Hi', '--ep', 'cuda'], env)).stderr, /built for cpu, not cuda: .*--ep cuda\n$/);
  });

  test('--json: text, ids, stop reason and timings; -n is honoured', async () => {
    const r = await gemma(['run', 'tiny-random', '-p', 'Hi', '-n', '7', '--temp', '0', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { text: string; ids: number[]; stop_reason: string; prompt_tokens: number; timings: Record<string, number> };
    assert.equal(out.ids.length, 7);
    assert.equal(out.stop_reason, 'max-tokens');
    assert.equal(out.prompt_tokens, await hiPromptTokens());
    for (const key of ['load_ms', 'prefill_tokens', 'prefill_ms', 'prefill_tokens_per_s', 'decode_tokens', 'decode_ms', 'decode_tokens_per_s']) assert.ok(key in out.timings, key);
  });

  test('--decode-steps: a one-graph export decodes in runs of its decode loop, in the workers, with the tokens of one step per run; a two-graph one is refused', async () => {
    const one = join(root, 'one-graph');
    assert.equal((await gemma(['quantize', 'tiny-random', '--stages', '1', '--out', one], env)).code, 0);
    const answer = async (steps: string): Promise<{ ids: number[]; text: string; stop_reason: string }> => {
      const r = await gemma(['run', one, '-p', 'Hello', '-n', '20', '--seed', '5', '--temp', '1.5', '--top-k', '0', '--min-p', '0', '--json', '--decode-steps', steps], env);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { ids: number[]; text: string; stop_reason: string };
    };
    const want = await answer('1');
    const got = await answer('8');
    assert.deepEqual([got.ids, got.text, got.stop_reason], [want.ids, want.text, want.stop_reason]);
    assert.ok(want.ids.length > 3, 'long enough to need runs of several steps');
    const staged = (await gemma(['quantize', 'tiny-random'], env)).stdout.trim();
    const r = await gemma(['run', staged, '-p', 'Hi', '--decode-steps', '8'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gemma: error: --decode-steps 8 needs the decode loop, which only one-graph exports have: .* has 2 graphs; convert it again with gemma quantize --stages 1, or use --decode-steps 1\n$/);
  });

  test('the prompt can come on stdin', async () => {
    const child = spawn(process.execPath, [GEMMA_BIN, 'run', 'tiny-random', '-n', '3', '--temp', '0', '--json'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('Hi');
    const r = await finished(child);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { prompt_tokens: number }).prompt_tokens, await hiPromptTokens());
  });

  test('an export made for another graph contract is refused with what to do', async () => {
    const out = join(root, 'old-export');
    assert.equal((await gemma(['quantize', 'tiny-random', '--out', out], env)).code, 0);
    const manifestPath = join(out, 'gemma.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, contract: 'gemma2-new-kv/4' }));
    const r = await gemma(['run', out, '-p', 'hi'], env);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.startsWith('gemma: error: '), r.stderr);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.ok(r.stderr.endsWith(`graph contract gemma2-new-kv/4, this gemma needs ${GRAPH_CONTRACT}: convert it again with gemma quantize\n`), r.stderr);
  });

  test('an export with a graph missing, no graphs, or graphs that do not cover the layers, is refused in one line', async () => {
    const out = join(root, 'damaged-export');
    assert.equal((await gemma(['quantize', 'tiny-random', '--out', out], env)).code, 0);
    const manifestPath = join(out, 'gemma.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, stages: [manifest.stages[0]] }));
    const partial = await gemma(['run', out, '-p', 'hi'], env);
    assert.equal(partial.code, 1);
    assert.match(partial.stderr, /^gemma: error: .*the graphs in gemma\.json do not cover layers 0 to 3 in order: convert it again with gemma quantize\n$/);
    await writeFile(manifestPath, JSON.stringify({ ...manifest, stages: [] }));
    const none = await gemma(['run', out, '-p', 'hi'], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^gemma: error: .*gemma\.json lists no graphs\n$/);
    await writeFile(manifestPath, JSON.stringify(manifest));
    await rm(join(out, manifest.stages[1]!.file));
    const missing = await gemma(['run', out, '-p', 'hi'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^gemma: error: cannot load .*model-2-of-2\.onnx on cpu: [^\n]+\n$/);
  });

  test('bad input: one line and a non-zero exit each', async () => {
    await mkdir(join(root, 'empty-folder'));
    await writeFile(join(root, 'a-file'), 'x');
    const cases: [string[], RegExp][] = [
      [['run', join(root, 'missing'), '-p', 'hi'], /no such checkpoint folder/],
      [['run', join(root, 'empty-folder'), '-p', 'hi'], /neither a gemma export .* nor a Hugging Face checkpoint/],
      [['run', join(root, 'a-file'), '-p', 'hi'], /not a checkpoint folder/],
      [['run', 'tiny-random', '-p', '   '], /empty prompt/],
      [['run', 'tiny-random', '-p', 'word '.repeat(40), '-c', '16'], /the prompt is \d+ tokens and the context holds 16/],
      [['run', 'tiny-random', '-p', 'hi', '-c', '100000'], /exceeds the model's max_position_embeddings 1024/],
      [['run', 'tiny-random', '-p', 'hi', '--temp', 'hot'], /--temp.*must be a number/],
      [['run', 'tiny-random', '-p', 'hi', '-n', '0'], /must be positive, or -1/],
      [['run', 'tiny-random', '--json'], /(--json needs a one-shot prompt|empty prompt)/],
      [['run', 'tiny-random', '--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await gemma(args, env);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /^gemma: error: [^\n]+\n$/, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});

describe('gemma run, interactive on a terminal', () => {
  let root: string;
  let checkpoint: string;
  before(async () => {
    root = await tempDir('repl');
    checkpoint = await slowChatCheckpoint();
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('type a message, see an answer stream, Ctrl-C stops it, /stats, /reset, Ctrl-D exits', async () => {
    await inTerminal(`${checkpoint} --seed 1`, { GEMMA_HOME: join(root, 'home') }, async (term) => {
      let at = await term.waitFor(/context 4096 tokens.*\n> /s);
      at = await interruptedAnswer(term, 'Hello there', at);
      term.type('/stats\r');
      at = await term.waitFor(/prompt \d+ tokens \(\d+ run, [\d.]+ t\/s\) \| generated \d+ tokens .* stop: interrupted/, at);
      term.type('/reset\r');
      at = await term.waitFor(/\(new conversation\)/, at);
      term.type('\x04');
      assert.equal(await term.exited, 0);
    });
  });

  test('--decode-steps: the answer streams in runs of the decode loop and Ctrl-C stops it at the next run; the chat goes on', async () => {
    const out = join(root, 'one-graph');
    const quantized = await gemma(['quantize', checkpoint, '--stages', '1', '--out', out], { GEMMA_HOME: join(root, 'home') });
    assert.equal(quantized.code, 0, quantized.stderr);
    await inTerminal(`${out} --seed 1 --decode-steps 8`, { GEMMA_HOME: join(root, 'home') }, async (term) => {
      let at = await term.waitFor(/context 4096 tokens.*\n> /s);
      at = await interruptedAnswer(term, 'Hello there', at);
      term.type('Again\r');
      at = await term.waitFor(/Again\s*\n[\s\S]{5}/, at);
      term.type('\x03');
      await term.waitFor(/\[interrupted\][\s\S]*> /, at);
      term.type('\x04');
      assert.equal(await term.exited, 0);
      assert.doesNotMatch(term.output, /internal error/);
    });
  });

  test('Ctrl-C twice at the prompt exits', async () => {
    await inTerminal(`${checkpoint}`, { GEMMA_HOME: join(root, 'home') }, async (term) => {
      const at = await term.waitFor(/\n> /);
      term.type('\x03');
      await term.waitFor(/Ctrl-C again or Ctrl-D to exit/, at);
      term.type('\x03');
      assert.equal(await term.exited, 0);
    });
  });

  test('a message too long for the context is refused in one line; the prompt returns and the conversation goes on', async () => {
    await inTerminal(`tiny-random -c 64 -n 8 --temp 0`, { GEMMA_HOME: join(root, 'home') }, async (term) => {
      let at = await term.waitFor(/context 64 tokens.*\n> /s);
      term.type('Hi\r');
      at = await term.waitFor(/\n> /, at);
      const first = await stats(term, at);
      term.type(`${'word '.repeat(100)}\r`);
      at = await term.waitFor(/gemma: error: the prompt is \d+ tokens and the context holds 64 \(--ctx-size\)[^\n]*\n> /, first.at);
      term.type('Again\r');
      at = await term.waitFor(/\n> /, at);
      const second = await stats(term, at);
      assert.ok(second.prompt > first.prompt + first.generated, `turn two's prompt (${second.prompt} tokens) holds turn one (${first.prompt} + ${first.generated})`);
      const glue = second.prompt - first.prompt - first.generated;
      assert.ok(second.run <= glue + 1, `turn one stayed in the cache: ${second.run} tokens run for ${glue} new ones and turn one's last`);
      term.type('/exit\r');
      assert.equal(await term.exited, 0);
      assert.doesNotMatch(term.output, /internal error/);
    });
  });

  test('a """ block and a bracketed paste are one message each, newlines kept; Ctrl-C drops an open one; paste mode is on while the chat runs', async () => {
    await inTerminal(`tiny-random -n 2 --temp 0`, { GEMMA_HOME: join(root, 'home') }, async (term) => {
      let at = await term.waitFor(/\n> /);
      assert.ok(term.output.includes('\x1b[?2004h'), 'bracketed paste enabled');
      term.type('"""\r');
      at = await term.waitFor(/\.\.\. /, at);
      term.type('line one\r');
      at = await term.waitFor(/\.\.\. /, at);
      term.type('line two"""\r');
      at = await term.waitFor(/\n> /, at);
      const block = await stats(term, at);
      assert.equal(block.prompt, await promptTokens('line one\nline two'));
      term.type('/reset\r');
      at = await term.waitFor(/\(new conversation\)[\s\S]*> /, block.at);
      term.type('\x1b[200~first line\nsecond line\x1b[201~\r');
      at = await term.waitFor(/\n> /, at);
      const paste = await stats(term, at);
      assert.equal(paste.prompt, await promptTokens('first line\nsecond line'));
      term.type('"""draft\r');
      at = await term.waitFor(/\.\.\. /, paste.at);
      term.type('\x03');
      await term.waitFor(/\(message dropped\)\s*\n> /, at);
      term.type('\x04');
      assert.equal(await term.exited, 0);
      assert.ok(term.output.lastIndexOf('\x1b[?2004l') > term.output.lastIndexOf('> '), 'bracketed paste disabled at exit');
    });
  });
});

describe('gemma run: what the export holds, and llama.cpp conventions', () => {
  let root: string;
  let env: Record<string, string>;
  const oneLine = /^gemma: error: [^\n]+\n$/;
  before(async () => {
    root = await tempDir('run-files');
    env = { GEMMA_HOME: join(root, 'home') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  interface JsonTurn { ids: number[]; seed: number; sampling: Record<string, number> }
  const json = async (args: string[]): Promise<JsonTurn> => {
    const r = await gemma([...args, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as JsonTurn;
  };

  test('an export whose weights are NaN is refused in one line naming it, greedy, sampled or scored', async () => {
    const out = join(root, 'nan-export');
    assert.equal((await gemma(['quantize', 'tiny-random', '--out', out], env)).code, 0);
    const data = join(out, 'model.onnx.data');
    await writeFile(data, Buffer.alloc((await readFile(data)).length, 0xff));
    const text = join(root, 'nan-eval.txt');
    await writeFile(text, 'Some text to score.');
    for (const args of [['run', out, '-p', 'Hi', '-n', '3', '--temp', '0'], ['run', out, '-p', 'Hi', '-n', '3', '--temp', '0.8'], ['eval', out, '--file', text]]) {
      const r = await gemma(args, env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, oneLine);
      assert.ok(r.stderr.startsWith(`gemma: error: the model in ${out} produced non-finite logits (NaN/Inf): the export is damaged`), r.stderr);
    }
  });

  test('generation_config.json: its sampling is what runs (--json says), flags override; a bad one is refused at export and at load, naming the file', async () => {
    const checkpoint = join(root, 'checkpoint');
    await cp(join(root, 'home', 'checkpoints', 'tiny-random-v1'), checkpoint, { recursive: true });
    const config = join(checkpoint, 'generation_config.json');
    await writeFile(config, JSON.stringify({ eos_token_id: [1, 107], temperature: 0.3, top_k: 7, top_p: 0.5, min_p: 0.2, repetition_penalty: 1.5 }));
    const out = join(root, 'configured');
    assert.equal((await gemma(['quantize', checkpoint, '--out', out], env)).code, 0);
    const prompt = ['run', out, '-p', 'Hi', '-n', '2'];
    assert.deepEqual((await json(prompt)).sampling, { temp: 0.3, top_k: 7, top_p: 0.5, min_p: 0.2, repeat_penalty: 1.5, repeat_last_n: 64 });
    const flags = ['--temp', '0.9', '--top-k', '3', '--top-p', '0.8', '--min-p', '0', '--repeat-penalty', '1.1', '--repeat-last-n', '8'];
    assert.deepEqual((await json([...prompt, ...flags])).sampling, { temp: 0.9, top_k: 3, top_p: 0.8, min_p: 0, repeat_penalty: 1.1, repeat_last_n: 8 });
    await writeFile(join(out, 'generation_config.json'), JSON.stringify({ do_sample: false, temperature: 0.3 }));
    assert.equal((await json(prompt)).sampling.temp, 0, 'do_sample: false is greedy');

    await writeFile(join(out, 'generation_config.json'), '{"top_p": 7}');
    const atLoad = await gemma(prompt, env);
    assert.equal(atLoad.code, 1);
    assert.match(atLoad.stderr, oneLine);
    assert.ok(atLoad.stderr.startsWith(`gemma: error: ${join(out, 'generation_config.json')}: 'top_p' must be a number in (0, 1], found 7`), atLoad.stderr);

    await writeFile(config, '{"top_k": "many"}');
    const atExport = await gemma(['quantize', checkpoint, '--out', join(root, 'not-written')], env);
    assert.equal(atExport.code, 1);
    assert.match(atExport.stderr, oneLine);
    assert.ok(atExport.stderr.startsWith(`gemma: error: ${config}: 'top_k' must be an integer ≥ 0, found "many"`), atExport.stderr);
    await assert.rejects(readFile(join(root, 'not-written', 'gemma.json')));
  });

  test('--seed -1 picks a seed that --json reports and that reproduces the answer; -c 0 and --seed -1 are the only values below range', async () => {
    const args = ['run', 'tiny-random', '-p', 'Hi', '-n', '8', '--temp', '1.5', '--top-k', '0'];
    const picked = await json([...args, '--seed', '-1']);
    assert.ok(Number.isInteger(picked.seed) && picked.seed >= 0 && picked.seed < 2 ** 32, String(picked.seed));
    assert.deepEqual((await json([...args, '--seed', String(picked.seed)])).ids, picked.ids);
    assert.equal((await json([...args, '--seed', '5'])).seed, 5);
    assert.deepEqual((await json([...args, '--seed', '5', '-c', '0'])).ids, (await json([...args, '--seed', '5'])).ids);
    for (const [bad, message] of [[['--seed', '-2'], /--seed.*must be from 0 to 4294967295, or -1/], [['-c', '1'], /--ctx-size.*must be at least 2, or 0/]] as const) {
      const r = await gemma([...args, ...bad], env);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, oneLine);
      assert.match(r.stderr, message);
    }
  });

  test('-c 0 is the model\'s context and /stats shows the seed --seed -1 picked', async () => {
    await inTerminal(`tiny-random -c 0 --seed -1 -n 3`, env, async (term) => {
      let at = await term.waitFor(/context 1024 tokens.*\n> /s);
      term.type('Hi\r');
      at = await term.waitFor(/\n> /, at);
      term.type('/stats\r');
      at = await term.waitFor(/stop: max-tokens \| seed \d+/, at);
      term.type('\x04');
      assert.equal(await term.exited, 0);
    });
  });

  test('the help of every command taking a model says a Hub repo id works', async () => {
    for (const command of ['run', 'eval', 'bench', 'quantize']) {
      const r = await gemma([command, '--help'], env);
      assert.match(r.stdout.replace(/\s+/g, ' '), /a Hub repo id \(org\/name, downloaded as gemma pull does\)/, command);
    }
  });

  test('tiny-random under a GEMMA_HOME that cannot be written is one line naming the folder', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, '');
    const r = await gemma(['run', 'tiny-random', '-p', 'Hi'], { GEMMA_HOME: join(file, 'home') });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, oneLine);
    assert.ok(r.stderr.startsWith('gemma: error: cannot ') && r.stderr.includes(join(file, 'home', 'checkpoints')) && r.stderr.endsWith(': not a directory\n'), r.stderr);
  });
});
