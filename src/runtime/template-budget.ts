import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { GemmaError } from '../util/errors.js';
import type { RenderReply, RenderRequest, TemplateWorkerData } from './template-worker.js';

/**
 * What one render of a chat template may take. Templates are code from the model's files, and a V8 out-of-memory
 * cannot be caught in the thread that hits it (`range(100000000)` aborted the process), so renders run in a worker
 * with its own heap limit, and a render that passes the time limit is stopped with it. Real chat templates need a
 * few milliseconds and well under a megabyte.
 */
export const TEMPLATE_BUDGET: TemplateBudget = { ms: 5_000, heapMb: 256 };

export interface TemplateBudget {
  ms: number;
  heapMb: number;
}
/** How often the port is looked at when the flag has moved but no reply is there yet. */
const POLL_MS = 1;

/** Most a start of the worker (loading the renderer into it) may take, on a loaded machine. */
const START_MS = 30_000;

interface Renderer {
  worker: Worker;
  heapMb: number;
  port: MessagePort;
  flag: Int32Array;
  replies: number;
}

let renderer: Renderer | undefined;

function start(heapMb: number): Renderer {
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const workerData: TemplateWorkerData = { port: port2, flag };
  const worker = new Worker(new URL('./template-worker.js', import.meta.url), {
    workerData,
    transferList: [port2],
    resourceLimits: { maxOldGenerationSizeMb: heapMb },
  });
  // An idle renderer must not keep the process alive; its failures arrive as missing replies.
  worker.unref();
  worker.on('error', () => undefined);
  const r = { worker, heapMb, port: port1, flag, replies: 1 };
  if (Atomics.wait(flag, 0, 0, START_MS) === 'timed-out') {
    stop(r);
    throw new GemmaError(`the chat template renderer did not start within ${START_MS / 1000} s`);
  }
  return r;
}

function stop(r: Renderer): void {
  if (renderer === r) renderer = undefined;
  r.port.close();
  void r.worker.terminate();
}

/**
 * The worker's reply, blocking until it comes or `deadline` passes. The flag only says when to look: the reply is
 * taken from the port whenever it is there (under load a wake-up was seen with the port still empty), and the wait
 * goes on until the deadline.
 */
function awaitReply(r: Renderer, deadline: number): RenderReply | undefined {
  for (;;) {
    const reply = receiveMessageOnPort(r.port)?.message as RenderReply | undefined;
    if (reply !== undefined) return reply;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    if (Atomics.load(r.flag, 0) === r.replies) Atomics.wait(r.flag, 0, r.replies, left);
    else Atomics.wait(r.flag, 0, Atomics.load(r.flag, 0), Math.min(left, POLL_MS));
  }
}

/**
 * Renders a chat template in the worker, blocking this thread until it answers, so that rendering stays a plain
 * function call for its callers. Throws Error with the template's own message when it raises, GemmaError when it
 * passes the budget.
 */
export function renderInBudget(source: string, items: Record<string, unknown>, budget = TEMPLATE_BUDGET): string {
  if (renderer !== undefined && renderer.heapMb !== budget.heapMb) stop(renderer);
  const r = (renderer ??= start(budget.heapMb));
  r.port.postMessage({ source, items } satisfies RenderRequest);
  const reply = awaitReply(r, performance.now() + budget.ms);
  if (reply === undefined) {
    stop(r);
    throw new GemmaError(`the model's chat template needs more than ${budget.ms / 1000} s or ${budget.heapMb} MB to render: fix chat_template in tokenizer_config.json`);
  }
  r.replies++;
  if ('error' in reply) throw new Error(reply.error);
  return reply.text;
}
