import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModel } from '../../../src/quantize/export.js';
import { generate } from '../../../src/runtime/generate.js';
import { FALLBACK_SAMPLING } from '../../../src/runtime/generation-config.js';
import { openRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { GemmaError } from '../../../src/util/errors.js';
import { bindingCheckpoint, tempDir } from '../../helpers/models.js';

const turn = { sampling: { ...FALLBACK_SAMPLING, temperature: 0 }, seed: 1, maxTokens: 6 };

describe('chat sessions keep the cache across turns', () => {
  let root: string;
  let dir: string;
  let runtime: Runtime;

  before(async () => {
    root = await tempDir('chat');
    dir = join(root, 'int8');
    const format = { precision: 'int8', blockSize: 32, asymmetric: false, accuracyLevel: 4, keepEmbeddings: false, ep: 'cpu' } as const;
    await exportModel({ checkpointDir: await bindingCheckpoint(), outDir: dir, format, label: 'binding' });
    runtime = await openRuntime(dir, { threads: 1 });
  });
  after(async () => {
    await runtime?.engine.close();
    await rm(root, { recursive: true, force: true });
  });

  test('turn two prefills only its new tokens and answers exactly as a fresh run on the whole conversation', async () => {
    const { chat, engine, tokenizer } = runtime;
    chat.reset();
    const first = await chat.chat('Hello there', turn);
    assert.equal(first.prefilled, first.promptTokens);
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
    engine.rollback(0);
    const logits = (await engine.feed(conversation))[0]!;
    const fresh = await generate(engine, logits, tokenizer, { ...turn, stopIds: runtime.stopIds });
    assert.deepEqual(second.ids, fresh.ids);
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
