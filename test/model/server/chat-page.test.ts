import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../helpers/browser.js';
import { startServer, type ServeProcess } from '../../helpers/serve.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const API_KEY = 'page-test-key';

/** Each change of the latest answer's text, in order: the page appends every streamed piece to one text node. */
async function recordAnswerGrowth(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { growth: string[] }).growth = seen;
    new MutationObserver((records) => {
      for (const r of records) if (r.type === 'characterData' && r.target.parentElement?.closest('li.assistant')) seen.push(r.oldValue ?? '');
    }).observe(document.getElementById('log')!, { subtree: true, characterData: true, characterDataOldValue: true });
  });
  return () => page.evaluate(() => (window as unknown as { growth: string[] }).growth);
}

const lastAnswer = (page: Page) => page.locator('#log li.assistant').last();

async function sendMessage(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

describe('the chat page of gemma serve, in chromium', { timeout: 60_000 }, () => {
  const scratch = tempDirs('gemma-page-');
  let serving: Promise<ServeProcess>;
  let server: ServeProcess;
  let browser: Browser;
  /** One page through the tests, in order, as a person would use it. */
  let page: Page;

  before(async () => {
    // Sampling defaults for requests that set none: the page's and the plain HTTP request's answers are the same draw.
    serving = startServer(['tiny-random', '--port', '0', '--temp', '1', '--seed', '7'], { GEMMA_HOME: join(await scratch(), 'home'), GEMMA_API_KEY: API_KEY });
    [server, browser] = await Promise.all([serving, launchChromium()]);
    page = await browser.newPage({ viewport: { width: 360, height: 640 } });
    page.setDefaultTimeout(20_000);
  });
  after(async () => {
    await browser?.close();
    // Stopped even when chromium failed to start.
    const stopping = await serving?.catch(() => undefined);
    stopping?.child.kill('SIGTERM');
    await stopping?.done;
  });

  /** Polls /stats (no fixed sleep) until the server counts `n` answers cancelled by their client and runs none. */
  const answersCancelled = async (n: number): Promise<void> => {
    for (;;) {
      const { busy, cancelled } = (await (await api('/stats')).json()) as { busy: number; cancelled: number };
      if (busy === 0 && cancelled === n) return;
      await delay(5);
    }
  };
  const api = async (path: string, body?: object): Promise<Response> =>
    fetch(`${server.url}${path}`, { method: body ? 'POST' : 'GET', headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });

  test("without the API key the server's error shows in the page; the key (kept in the tab) brings the model name", async () => {
    await page.goto(server.url);
    await page.locator('#error').getByText(/401: /).waitFor();
    await page.getByText('Settings').click();
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByLabel('API key').press('Tab');
    const { data } = (await (await api('/v1/models')).json()) as { data: { id: string }[] };
    await page.locator('#model').getByText(data[0]!.id, { exact: true }).waitFor();
    assert.equal(await page.locator('#error').isHidden(), true);
    await page.reload();
    assert.equal(await page.getByLabel('API key').inputValue(), API_KEY);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, 'no sideways scrolling at 360 px');
  });

  test('Shift+Enter is a new line, Enter sends; the answer streams, as text, equal to the same request answered without streaming', async () => {
    const message = 'Say <b>hello</b>\n& more';
    await page.getByText('Settings').click();
    await page.getByLabel('Max tokens').fill('24');
    const growth = await recordAnswerGrowth(page);
    await page.getByLabel('Message').fill('Say <b>hello</b>');
    await page.getByLabel('Message').press('Shift+Enter');
    await page.getByLabel('Message').pressSequentially('& more');
    await page.getByLabel('Message').press('Enter');
    await lastAnswer(page).and(page.locator('[data-state="done"]')).waitFor();
    const streamed = await lastAnswer(page).locator('.text').textContent();
    const steps = (await growth()).filter((s) => s !== '');
    assert.ok(steps.length >= 2, `the answer grew over ${steps.length + 1} pieces`);
    for (const [i, s] of steps.entries()) assert.ok(streamed!.startsWith(s) && s.length > (steps[i - 1]?.length ?? 0));
    assert.equal(await page.locator('#log li.user .text').textContent(), message);
    assert.equal(await page.locator('#log b').count(), 0, 'message text is never HTML');
    const plain = await api('/v1/chat/completions', { messages: [{ role: 'user', content: message }], max_tokens: 24 });
    const { choices } = (await plain.json()) as { choices: { message: { content: string } }[] };
    assert.equal(streamed, choices[0]!.message.content);
  });

  test("Stop ends a long answer and the server's generation; the next message is answered, with the stopped text in the conversation", async () => {
    // Greedy, tiny-random answers with newlines up to the context's end (about 1000 tokens).
    await page.getByLabel('Temperature').fill('0');
    await page.getByLabel('Max tokens').fill('');
    // Stop is pressed as the first piece shows, from inside the page: a click from here could come after the answer's end.
    await page.evaluate(() => {
      const observer = new MutationObserver((records) => {
        if (records.every((r) => r.target.textContent === '')) return;
        observer.disconnect();
        document.getElementById('stop')!.click();
      });
      observer.observe(document.getElementById('log')!, { subtree: true, characterData: true });
    });
    await sendMessage(page, 'Tell me a long story.');
    const stopped = page.locator('#log li.assistant[data-state="stopped"]');
    await stopped.waitFor();
    const kept = await stopped.locator('.text').textContent();
    await answersCancelled(1);
    await page.getByLabel('Max tokens').fill('8');
    const sent = page.waitForRequest('**/v1/chat/completions');
    await sendMessage(page, 'And then?');
    const { messages } = (await sent).postDataJSON() as { messages: { role: string; content: string }[] };
    assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user']);
    assert.equal(messages[3]!.content, kept);
    await lastAnswer(page).and(page.locator('[data-state="done"]')).waitFor();
    assert.equal(await stopped.locator('.text').textContent(), kept, 'the stopped answer grew no more');
  });

  test('New chat clears the conversation: the next request holds only its own message', async () => {
    await page.getByRole('button', { name: 'New chat' }).click();
    assert.equal(await page.locator('#log li').count(), 0);
    const sent = page.waitForRequest('**/v1/chat/completions');
    await sendMessage(page, 'Hi');
    assert.deepEqual((await sent).postDataJSON().messages, [{ role: 'user', content: 'Hi' }]);
    await lastAnswer(page).and(page.locator('[data-state="done"]')).waitFor();
  });
});
