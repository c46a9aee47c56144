import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/export/export.js';
import { ChatSession } from '../../../src/runtime/chat-session.js';
import type { Engine, EngineLike } from '../../../src/runtime/engine.js';
import { generate } from '../../../src/runtime/generate.js';
import { FALLBACK_SAMPLING } from '../../../src/runtime/generation-config.js';
import { openRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { GemmaError } from '../../../src/util/errors.js';
import { bindingCheckpoint, tempDir } from '../../helpers/models.js';

const turn = { sampling: { ...FALLBACK_SAMPLING, temperature: 0 }, seed: 1, maxTokens: 6 };

/** The engine, keeping a copy of the logits each feed returns; `fail` makes a feed throw before it runs. */
function recording(engine: Engine): EngineLike & { logits: Float32Array[]; fail?: (ids: number[]) => boolean } {
  const spy = {
    spec: engine.spec,
    options: engine.options,
    logits: [] as Float32Array[],
    fail: undefined as ((ids: number[]) => boolean) | undefined,
    get tokens(): readonly number[] {
      return engine.tokens;
    },
    get counters() {
      return engine.counters;
    },
    rollback: (length: number): void => engine.rollback(length),
    decode: engine.decode.bind(engine),
    async feed(ids: number[]): Promise<Float32Array[]> {
      if (spy.fail?.(ids)) throw new GemmaError('the feed failed');
      const out = await engine.feed(ids);
      spy.logits.push(Float32Array.from(out[0]!));
      return out;
    },
  };
  return spy;
}

/** Largest difference between two logit rows, relative to the spread of the second. */
function relativeDiff(got: Float32Array, want: Float32Array): number {
  let diff = 0;
  for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
  return diff / (Math.max(...want) - Math.min(...want));
}

/** The ids of an answer that are in the cache: all of them after an end token, all but the last otherwise. */
const fed = (r: { ids: number[]; stopReason: string }): number[] => (r.stopReason === 'eos' ? r.ids : r.ids.slice(0, -1));

describe('chat sessions keep the cache across turns', () => {
  let root: string;
  let dir: string;
  let runtime: Runtime;

  before(async () => {
    root = await tempDir('chat');
    dir = join(root, 'fp32');
    // fp32: int8 MatMulNBits at accuracy level 4 gives logits ~3e-3 of their range apart between a
    // prefill of 24 tokens and one of 14 (kernels by batch size), which would hide a cache bug that size.
    const format = { precision: 'fp32', blockSize: 32, asymmetric: false, accuracyLevel: 0, keepEmbeddings: false, ep: 'cpu', attention: 'ops' } as const;
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: dir, format, label: 'binding' });
    runtime = await openRuntime(dir, { threads: 1 });
  });
  after(async () => {
    await runtime?.engine.close();
    await rm(root, { recursive: true, force: true });
  });

  test('turn two prefills only its new tokens; the cache holds exactly the conversation and the logits equal a fresh run on it', async () => {
    const { engine, tokenizer } = runtime;
    engine.rollback(0);
    const spy = recording(engine);
    const chat = new ChatSession(spy, tokenizer, runtime.stopIds, undefined, 'text');
    const first = await chat.chat('Hello there', turn);
    assert.equal(first.prefilled, first.promptTokens);
    const turnTwo = spy.logits.length;
    const second = await chat.chat('How are you?', turn);
    const glue = tokenizer.encode('<end_of_turn>\n<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n', 'control');
    const unfedLastToken = first.stopReason === 'eos' ? 0 : 1;
    assert.equal(second.prefilled, glue.length + unfedLastToken);
    assert.ok(second.prefilled < second.promptTokens / 2);

    const conversation = [
      ...tokenizer.encode('<bos><start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n', 'control'),
      ...first.ids,
      ...glue,
    ];
    assert.equal(conversation.length, second.promptTokens);
    assert.deepEqual(engine.tokens, [...conversation, ...fed(second)]);
    engine.rollback(0);
    const logits = (await engine.feed(conversation))[0]!;
    const d = relativeDiff(spy.logits[turnTwo]!, logits);
    assert.ok(d < 1e-4, `turn two's first logits differ from a fresh run's by ${d} of their range`);
    const fresh = await generate(engine, logits, tokenizer, { ...turn, stopIds: runtime.stopIds });
    assert.deepEqual(second.ids, fresh.ids);
  });

  test('a failed turn leaves the chat as it was: a message too long even alone is refused with its size, a failing engine is recovered from', async () => {
    const { engine, tokenizer } = runtime;
    engine.rollback(0);
    const spy = recording(engine);
    const chat = new ChatSession(spy, tokenizer, runtime.stopIds, undefined, 'text');
    const first = await chat.chat('Hello there', turn);
    const before = [...engine.tokens];
    await assert.rejects(chat.chat('word '.repeat(80), turn), (err: unknown) => err instanceof GemmaError && /^the prompt is 1\d\d tokens and the context holds 128 /.test(err.message));
    assert.deepEqual(engine.tokens, before, 'nothing ran');
    let decoded = 0;
    spy.fail = (ids) => ids.length === 1 && ++decoded === 3;
    await assert.rejects(chat.chat('Tell me more', turn), /the feed failed/);
    spy.fail = undefined;

    const turnTwo = spy.logits.length;
    const second = await chat.chat('How are you?', turn);
    assert.equal(second.droppedTurns, 0);
    const conversation = [
      ...tokenizer.encode('<bos><start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n', 'control'),
      ...first.ids,
      ...tokenizer.encode('<end_of_turn>\n<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n', 'control'),
    ];
    assert.equal(second.promptTokens, conversation.length);
    assert.deepEqual(engine.tokens, [...conversation, ...fed(second)]);
    engine.rollback(0);
    const d = relativeDiff(spy.logits[turnTwo]!, (await engine.feed(conversation))[0]!);
    assert.ok(d < 1e-4, `the turn after the failures differs from a fresh run by ${d} of the logits' range`);
  });

  test('BOS exactly once, in chat and in raw completion', async () => {
    const { chat, engine, tokenizer } = runtime;
    const bos = (): number => engine.tokens.filter((id) => id === tokenizer.bosId).length;
    chat.reset();
    await chat.chat('Hello', turn);
    await chat.chat('Again', turn);
    assert.equal(bos(), 1);
    assert.equal(engine.tokens[0], tokenizer.bosId);
    await chat.complete('Once upon a time', turn);
    assert.equal(bos(), 1);
    assert.equal(engine.tokens[0], tokenizer.bosId);
  });

  test('--system is folded into the first user turn', async () => {
    const withSystem = await openRuntime(dir, { threads: 1, system: 'Be brief.' });
    const r = await withSystem.chat.chat('Hi', turn);
    const expected = withSystem.tokenizer.encode('<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n', 'control');
    assert.deepEqual(withSystem.engine.tokens.slice(0, expected.length), expected);
    assert.equal(r.promptTokens, expected.length);
    await withSystem.engine.close();
  });

  test('context boundaries: a prompt of ctx - 1 tokens runs as it is, one of ctx drops the oldest exchange, a lone message of ctx is refused', async () => {
    const { chat } = runtime;
    chat.reset();
    await chat.chat('Hello there', turn);
    const full = (await chat.chat('How are you?', turn)).promptTokens;
    chat.reset();
    const lone = (await chat.chat('How are you?', turn)).promptTokens;
    chat.reset();
    // Each " a" is one token of the tiny vocabulary: `a(n)` has n of them.
    const a = (n: number): string => `a${' a'.repeat(n - 1)}`;
    const template = (await chat.chat(a(1), turn)).promptTokens - 1;

    const roomy = await openRuntime(dir, { threads: 1, ctxSize: full + 1 });
    await roomy.chat.chat('Hello there', turn);
    const kept = await roomy.chat.chat('How are you?', turn);
    assert.deepEqual([kept.promptTokens, kept.droppedTurns], [full, 0]);
    await roomy.engine.close();

    const tight = await openRuntime(dir, { threads: 1, ctxSize: full });
    await tight.chat.chat('Hello there', turn);
    const dropped = await tight.chat.chat('How are you?', turn);
    assert.deepEqual([dropped.promptTokens, dropped.droppedTurns], [lone, 1]);
    const longest = await tight.chat.chat(a(full - 1 - template), turn);
    assert.deepEqual([longest.promptTokens, longest.droppedTurns], [full - 1, 1]);
    const refusal = new RegExp(`^the prompt is ${full} tokens and the context holds ${full} `);
    await assert.rejects(tight.chat.chat(a(full - template), turn), (err: unknown) => err instanceof GemmaError && refusal.test(err.message));
    await tight.engine.close();
  });

  test('a full context drops the oldest exchanges; a prompt that cannot fit is refused', async () => {
    const small = await openRuntime(dir, { threads: 1, ctxSize: 48 });
    let dropped = 0;
    for (let i = 0; i < 6; i++) dropped += (await small.chat.chat(`Message number ${i}`, turn)).droppedTurns;
    assert.ok(dropped > 0, 'older turns were dropped');
    assert.ok(small.engine.tokens.length <= 48);
    await assert.rejects(small.chat.chat('word '.repeat(60), turn), (err: unknown) => err instanceof GemmaError && /context holds 48/.test(err.message));
    await small.engine.close();
  });
});
