import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChatTemplate, foldSystem } from '../../../src/runtime/chat-template.js';
import { GemmaError } from '../../../src/util/errors.js';
import { REAL_TOKENIZER_DIR } from '../../helpers/models.js';

const config = JSON.parse(readFileSync(join(REAL_TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
const template = new ChatTemplate(config.chat_template, '<bos>');

test("Gemma 2's real template: system folded into the first user turn, user and model turns, generation prompt", () => {
  const rendered = template.render([
    { role: 'user', content: foldSystem('Answer in French.', 'Hello!') },
    { role: 'assistant', content: 'Bonjour !' },
    { role: 'user', content: '  How are you?  ' },
  ], true);
  assert.equal(rendered, [
    '<bos><start_of_turn>user\nAnswer in French.\n\nHello!<end_of_turn>\n',
    '<start_of_turn>model\nBonjour !<end_of_turn>\n',
    '<start_of_turn>user\nHow are you?<end_of_turn>\n',
    '<start_of_turn>model\n',
  ].join(''));
});

test('without a generation prompt the conversation ends after the last turn', () => {
  assert.equal(template.render([{ role: 'user', content: 'Hi' }], false), '<bos><start_of_turn>user\nHi<end_of_turn>\n');
});

test('the template itself refuses a system role and broken alternation, as a one-line GemmaError', () => {
  assert.throws(() => template.render([{ role: 'system' as 'user', content: 'x' }], true), (e: unknown) => e instanceof GemmaError && /System role not supported/.test(e.message));
  assert.throws(() => template.render([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], true), GemmaError);
});

test('no system text leaves the first message as it is', () => {
  assert.equal(foldSystem(undefined, 'Hi'), 'Hi');
  assert.equal(foldSystem('', 'Hi'), 'Hi');
});

test('the renderings kept are bounded by the capacity, least recently used dropped', () => {
  const small = new ChatTemplate(config.chat_template, '<bos>', 2);
  const kept = (small as unknown as { rendered: Map<string, string> }).rendered;
  for (const content of ['a', 'b', 'a', 'c']) small.render([{ role: 'user', content }], true);
  assert.deepEqual([...kept.values()].map((text) => text.includes('user\na') ? 'a' : text.includes('user\nc') ? 'c' : 'b'), ['a', 'c']);
});
