import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChatTemplate } from '../../../src/runtime/chat-template.js';
import { renderInBudget } from '../../../src/runtime/template-budget.js';
import { GemmaError } from '../../../src/util/errors.js';
import { REAL_TOKENIZER_DIR } from '../../helpers/models.js';

const GEMMA_TEMPLATE = (JSON.parse(readFileSync(join(REAL_TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8')) as { chat_template: string }).chat_template;
const HI = [{ role: 'user' as const, content: 'Hi' }];
const ITEMS = { messages: HI, bos_token: '<bos>', add_generation_prompt: true };
/** Short, so that the endless template below is stopped quickly. */
const BUDGET = { ms: 1_000, heapMb: 64 };

/** ChatTemplate.render must fail with a one-line GemmaError matching `pattern`, and the renderer must work afterwards. */
function refused(source: string, pattern: RegExp): void {
  assert.throws(() => new ChatTemplate(source, '<bos>').render(HI, true), (e: unknown) => e instanceof GemmaError && !e.message.includes('\n') && pattern.test(e.message));
  assert.equal(new ChatTemplate('{{ bos_token }}{{ messages[0].content }}', '<bos>').render(HI, true), '<bos>Hi');
}

test('a real template renders in the worker, again and again', () => {
  const template = new ChatTemplate(GEMMA_TEMPLATE, '<bos>');
  for (let i = 0; i < 3; i++) assert.equal(template.render(HI, true), '<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n');
});

test('range() that would exhaust memory is refused before it allocates; the process and later renders carry on', () => {
  refused('{% for i in range(100000000) %}{% endfor %}', /^chat template: range\(\) of 100000000 items: more than the 100000 a chat template may build$/);
  refused('{% set r = range %}{{ r(5, 200000005) | length }}', /range\(\) of 200000000 items/);
  assert.equal(new ChatTemplate('{{ range(3, 0, -1) | join(",") }} {{ range(2) | length }} {{ range(0, 10, 4) | join(",") }}', '<bos>').render(HI, true), '3,2,1 2 0,4,8');
});

test('output far beyond any context is refused', () => {
  refused("{{ 'a\\nb' | indent(100000000) }}", /^chat template: it renders 100000003 characters, more than the 16777216 a prompt may have$/);
});

test('a template that would run for minutes is stopped at the time limit', () => {
  const endless = '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';
  assert.throws(() => renderInBudget(endless, ITEMS, BUDGET), (e: unknown) => e instanceof GemmaError && e.message === "the model's chat template needs more than 1 s or 64 MB to render: fix chat_template in tokenizer_config.json");
  assert.equal(renderInBudget('{{ bos_token }}', ITEMS, BUDGET), '<bos>');
});

test("the template's own errors keep their message", () => {
  assert.throws(() => renderInBudget("{{ raise_exception('System role not supported') }}", ITEMS, BUDGET), (e: unknown) => e instanceof Error && !(e instanceof GemmaError) && e.message === 'System role not supported');
});
