import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerMeta, chatChunk, chatCompletion, usage, usageChunk } from '../../../src/server/openai-objects.js';
import { dataEvent, DONE_EVENT } from '../../../src/server/sse.js';

test('chat objects and their SSE framing: one data line per event, a blank line after each, [DONE] last', () => {
  const meta = answerMeta('chatcmpl', 'tiny-random');
  assert.match(meta.id, /^chatcmpl-[0-9a-f]{32}$/);
  const u = usage(7, 3);
  assert.deepEqual(u, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  assert.deepEqual(chatCompletion(meta, 'Hi', 'stop', u), {
    ...meta, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', refusal: null }, finish_reason: 'stop', logprobs: null }], usage: u,
  });
  const event = dataEvent(chatChunk(meta, { content: 'a\nb' }, null));
  assert.match(event, /^data: \{[^\n]*\}\n\n$/, 'a newline in the text stays escaped inside the one line');
  assert.deepEqual(JSON.parse(event.slice('data: '.length)).choices[0].delta, { content: 'a\nb' });
  assert.deepEqual(usageChunk(meta, 'chat.completion.chunk', u), { ...meta, object: 'chat.completion.chunk', choices: [], usage: u });
  assert.equal(DONE_EVENT, 'data: [DONE]\n\n');
});
