import { parentPort, workerData } from 'node:worker_threads';
import { GemmaError } from '../../util/errors.js';
import { ChatTemplate } from '../chat-template.js';
import { chatPrompt, completionPrompt, type PromptReply, type PromptRequest, type PromptWorkerData } from '../prompts.js';
import { loadTokenizer } from '../tokenizer.js';

/*
 * The worker side of Prompts: renders chat templates and tokenizes request text off the server's main thread,
 * whose event loop streams every answer. One request at a time, in the order they came.
 */
const { dir, renderings, contents } = workerData as PromptWorkerData;
const port = parentPort!;
const tokenizer = await loadTokenizer(dir);
const template = tokenizer.chatTemplate !== undefined ? new ChatTemplate(tokenizer.chatTemplate, tokenizer.bosToken, renderings) : undefined;

function build(request: PromptRequest): number[] {
  if (request.kind === 'completion') return completionPrompt(tokenizer, request.text, contents);
  if (template === undefined) throw new GemmaError('this model has no chat template');
  return chatPrompt(tokenizer, template, request.messages, contents);
}

port.on('message', (request: PromptRequest) => {
  let reply: PromptReply;
  try {
    reply = { id: request.id, tokens: build(request) };
  } catch (err) {
    reply = { id: request.id, error: (err as Error).message, expected: err instanceof GemmaError };
  }
  port.postMessage(reply);
});
port.postMessage({ id: -1, tokens: [] } satisfies PromptReply);
