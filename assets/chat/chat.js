// The chat page of `gemma serve`: plain browser JavaScript, no build step, nothing loaded from elsewhere.
// Model and user text only ever reaches the page as text nodes, never as HTML.
'use strict';

const KEY_STORAGE = 'gemma.apiKey';
const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'),
  log: $('log'),
  error: $('error'),
  status: $('status'),
  form: $('composer'),
  message: $('message'),
  send: $('send'),
  stop: $('stop'),
  newChat: $('new-chat'),
  apiKey: $('api-key'),
  maxTokens: $('max-tokens'),
  temperature: $('temperature'),
};

/** The whole conversation, sent with every turn: the server keeps nothing between requests. */
let messages = [];
let modelId;
/** The answer being streamed: its AbortController, or undefined when idle. */
let running;

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = ui.apiKey.value.trim();
  if (key !== '') h.Authorization = `Bearer ${key}`;
  return h;
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = text === '';
}

/** The message of an OpenAI error object in a failed response, or its status line. */
async function errorOf(response) {
  const body = await response.text();
  try {
    const message = JSON.parse(body).error?.message;
    if (typeof message === 'string') return `${response.status}: ${message}`;
  } catch {
    // Not JSON (a proxy's page, say): the status line says enough.
  }
  return `${response.status} ${response.statusText}`.trim();
}

async function loadModel() {
  try {
    const response = await fetch('/v1/models', { headers: headers() });
    if (!response.ok) throw new Error(await errorOf(response));
    modelId = (await response.json()).data?.[0]?.id;
    ui.model.textContent = modelId ?? '(no model)';
    showError('');
  } catch (err) {
    ui.model.textContent = '(model unknown)';
    showError(`Could not read the model: ${err.message}`);
  }
}

function addTurn(role, text) {
  const item = document.createElement('li');
  item.className = role;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = role === 'user' ? 'You' : 'Model';
  const body = document.createElement('div');
  body.className = 'text';
  const content = document.createTextNode(text);
  body.append(content);
  item.append(who, body);
  ui.log.append(item);
  item.scrollIntoView({ block: 'end' });
  return { item, content };
}

function setRunning(controller) {
  running = controller;
  ui.send.disabled = controller !== undefined;
  ui.stop.disabled = controller === undefined;
  ui.status.textContent = controller === undefined ? '' : 'Answering…';
}

/** Yields the `data:` payload of each server-sent event in the response body, until `[DONE]`; a body cut short throws. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the connection closed before the answer was complete');
    buffered += value;
    const lines = buffered.split(/\r?\n/);
    buffered = lines.pop();
    for (const line of lines) {
      if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      else if (line === '' && data.length > 0) {
        const payload = data.join('\n');
        data = [];
        if (payload === '[DONE]') {
          await reader.cancel();
          return;
        }
        yield payload;
      }
    }
  }
}

function requestBody() {
  const body = { model: modelId, messages, stream: true };
  if (ui.maxTokens.value !== '') body.max_tokens = Number(ui.maxTokens.value);
  if (ui.temperature.value !== '') body.temperature = Number(ui.temperature.value);
  return JSON.stringify(body);
}

/** Streams one answer into `answer`; returns its finish_reason ('stop', 'length'); throws when stopped or failed. */
async function stream(answer, controller) {
  const response = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: requestBody(), signal: controller.signal });
  if (!response.ok) throw new Error(await errorOf(response));
  let finish = 'stop';
  for await (const payload of events(response.body)) {
    // Pieces already received when Stop was pressed are not shown.
    if (controller.signal.aborted) throw controller.signal.reason;
    const chunk = JSON.parse(payload);
    if (chunk.error !== undefined) throw new Error(chunk.error.message ?? 'the server reported an error');
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) answer.content.appendData(choice.delta.content);
    if (choice?.finish_reason) finish = choice.finish_reason;
    answer.item.scrollIntoView({ block: 'end' });
  }
  return finish;
}

/** What the status line says after an answer, by how it ended. */
const ENDINGS = { length: 'The answer reached its token limit.', stopped: 'Stopped.' };

async function send(text) {
  showError('');
  const conversation = messages;
  conversation.push({ role: 'user', content: text });
  const question = addTurn('user', text);
  const answer = addTurn('assistant', '');
  answer.item.dataset.state = 'streaming';
  // Screen readers announce the answer once, when it is complete, not piece by piece.
  answer.item.setAttribute('aria-busy', 'true');
  const controller = new AbortController();
  setRunning(controller);
  let ending;
  try {
    ending = await stream(answer, controller);
  } catch (err) {
    ending = controller.signal.aborted ? 'stopped' : 'failed';
    if (ending === 'failed') showError(err.message);
  }
  answer.item.dataset.state = ending === 'stopped' || ending === 'failed' ? ending : 'done';
  answer.item.removeAttribute('aria-busy');
  if (running === controller) setRunning(undefined);
  // The Stop button that had the focus is disabled now.
  if (document.activeElement === ui.stop || document.activeElement === document.body) ui.message.focus();
  // New chat during the answer: this turn belongs to a conversation that is gone.
  if (messages !== conversation) return;
  ui.status.textContent = ENDINGS[ending] ?? '';
  const said = answer.content.data;
  if (said === '') {
    // Gemma's turns alternate: a question without an answer goes back into the box to send again.
    conversation.pop();
    question.item.remove();
    answer.item.remove();
    if (ui.message.value === '') ui.message.value = text;
  } else {
    conversation.push({ role: 'assistant', content: said });
  }
}

function submit() {
  const text = ui.message.value;
  if (running !== undefined || text.trim() === '') return;
  ui.message.value = '';
  ui.message.focus();
  void send(text);
}

function newChat() {
  running?.abort();
  setRunning(undefined);
  messages = [];
  ui.log.replaceChildren();
  showError('');
  ui.message.value = '';
  ui.message.focus();
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  submit();
});
$('settings-form').addEventListener('submit', (event) => event.preventDefault());
ui.message.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
ui.stop.addEventListener('click', () => running?.abort());
ui.newChat.addEventListener('click', newChat);
ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
ui.apiKey.addEventListener('input', () => sessionStorage.setItem(KEY_STORAGE, ui.apiKey.value));
ui.apiKey.addEventListener('change', loadModel);
void loadModel();
ui.message.focus();
