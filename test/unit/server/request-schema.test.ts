import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../../src/server/api-error.js';
import { chatRequest, completionRequest, MAX_MESSAGES, parseJson } from '../../../src/server/request-schema.js';
import { templateMessages } from '../../../src/server/routes.js';

const user = [{ role: 'user', content: 'Hi' }];

/** The 400 a body gets: its param and message. */
function refusal(parse: () => unknown): { param: string | null; message: string; code: string | null } {
  try {
    parse();
  } catch (err) {
    assert.ok(err instanceof ApiError && err.status === 400, String(err));
    return { param: err.param, message: err.message, code: err.code };
  }
  assert.fail('accepted');
}

describe('request schema', () => {
  test('a chat request: defaults, OpenAI fields it does not use ignored, nulls as left out, seeds taken modulo 2^32', () => {
    const r = chatRequest({ model: 'x', messages: user, user: 'me', metadata: { a: 1 }, store: false, temperature: null, seed: -1, stop: 'END', max_completion_tokens: 5, max_tokens: 9 });
    assert.deepEqual(r, { maxTokens: 5, seed: 2 ** 32 - 1, stop: ['END'], stream: false, includeUsage: false, messages: [{ role: 'user', content: 'Hi' }] });
    const s = chatRequest({ messages: [{ role: 'developer', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, ...user], stream: true, stream_options: { include_usage: true }, top_p: 0.5 });
    assert.deepEqual([s.messages[0], s.stream, s.includeUsage, s.topP], [{ role: 'system', content: 'ab' }, true, true, 0.5]);
  });

  test('each problem is one 400 naming its field as param', () => {
    const cases: [unknown, string | null, RegExp][] = [
      [[], null, /must be a JSON object/],
      [{}, 'messages', /'messages' is required/],
      [{ messages: [] }, 'messages', /list of 1 to 512 messages/],
      [{ messages: Array(513).fill(user[0]) }, 'messages', /list of 1 to 512 messages, found \[/],
      [{ messages: user, temperature: 'hot' }, 'temperature', /'temperature' must be a number from 0 to 2, found "hot"/],
      [{ messages: user, temperature: 2.5 }, 'temperature', /from 0 to 2/],
      [{ messages: user, top_p: -0.1 }, 'top_p', /from 0 to 1/],
      [{ messages: user, max_tokens: 0 }, 'max_tokens', /integer from 1/],
      [{ messages: user, max_tokens: 1.5 }, 'max_tokens', /integer/],
      [{ messages: user, seed: 'x' }, 'seed', /integer/],
      [{ messages: user, n: 2 }, 'n', /must be 1/],
      [{ messages: user, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /up to 4/],
      [{ messages: user, stop: '' }, 'stop', /non-empty string/],
      [{ messages: user, stream: 'yes' }, 'stream', /true or false/],
      [{ messages: user, logprobs: true }, 'logprobs', /not supported/],
      [{ messages: user, tools: [{ type: 'function' }] }, 'tools', /no tool calls/],
      [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role', /one of system, developer, user, assistant, found "robot"/],
      [{ messages: [{ role: 'user' }] }, 'messages[0].content', /is required/],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages[0].content', /text only/],
      [{ messages: ['hi'] }, 'messages[0]', /must be an object/],
    ];
    for (const [body, param, message] of cases) {
      const r = refusal(() => chatRequest(body));
      assert.equal(r.param, param, JSON.stringify(body));
      assert.match(r.message, message);
    }
  });

  test('a chat of MAX_MESSAGES messages is accepted', () => {
    assert.equal(chatRequest({ messages: Array(MAX_MESSAGES).fill(user[0]) }).messages.length, MAX_MESSAGES);
  });

  test('a completion request takes a string or a list of one; echo, suffix and best_of are refused', () => {
    assert.equal(completionRequest({ prompt: ['Once'] }).prompt, 'Once');
    assert.equal(refusal(() => completionRequest({ prompt: ['a', 'b'] })).param, 'prompt');
    assert.equal(refusal(() => completionRequest({ prompt: [1, 2] })).param, 'prompt');
    assert.equal(refusal(() => completionRequest({ prompt: 'a', echo: true })).param, 'echo');
    assert.equal(refusal(() => completionRequest({ prompt: 'a', best_of: 3 })).param, 'best_of');
  });

  test('bad JSON is a 400 saying so', () => {
    assert.match(refusal(() => parseJson('{"messages": [')).message, /^the request body is not valid JSON: /);
  });

  test('system messages fold into the first user turn; the turns start and end with the user', () => {
    const folded = templateMessages([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'system', content: 'No lists.' }, { role: 'user', content: 'Why?' }]);
    assert.deepEqual(folded, [{ role: 'user', content: 'Be brief.\n\nNo lists.\n\nHi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Why?' }]);
    assert.equal(refusal(() => templateMessages([{ role: 'system', content: 'x' }])).param, 'messages');
    assert.match(refusal(() => templateMessages([...user.map((m) => ({ ...m, role: 'user' as const })), { role: 'assistant', content: 'x' }])).message, /end with a user message/);
  });
});
