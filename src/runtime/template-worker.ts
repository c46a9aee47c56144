import { Environment, Template } from '@huggingface/jinja';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

/** A render asked of the worker; `items` are the template's variables. */
export interface RenderRequest {
  source: string;
  items: Record<string, unknown>;
}

export type RenderReply = { text: string } | { error: string };

/** The worker's end: `port` carries requests and replies; `flag[0]` counts the replies, and 1 for being ready, so that the caller can block on it. */
export interface TemplateWorkerData {
  port: MessagePort;
  flag: Int32Array;
}

/**
 * The longest list `range()` may build. The renderer's own range() allocates whatever it is asked for in one step,
 * and an allocation that large kills the whole process, worker or not; chat templates count turns, not millions.
 */
export const MAX_RANGE = 100_000;

/** Python's range(), as the renderer's own, refusing lists longer than MAX_RANGE before building them. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0) throw new Error('range() step must not be zero');
  const length = Math.max(0, Math.ceil((to - from) / step));
  if (length > MAX_RANGE) throw new Error(`range() of ${length} items: more than the ${MAX_RANGE} a chat template may build`);
  return Array.from({ length }, (_, i) => from + i * step);
}

/**
 * The renderer puts its range() into every render's environment through Environment.set and offers no way to
 * replace it (a variable of that name in the render's items is refused as already declared). This thread only
 * renders templates, so swapping it there touches nothing else.
 */
const librarySet = Environment.prototype.set;
Environment.prototype.set = function set(this: Environment, name: string, value: unknown) {
  return librarySet.call(this, name, name === 'range' ? boundedRange : value);
};

/** Far above any context's worth of text (131072 tokens of a few characters each). */
const MAX_TEXT = 1 << 24;

/** Templates parse once per worker; a conversation renders the same one many times. */
const parsed = new Map<string, Template>();

function render(request: RenderRequest): RenderReply {
  try {
    let template = parsed.get(request.source);
    if (template === undefined) parsed.set(request.source, (template = new Template(request.source)));
    const text = template.render(request.items);
    if (text.length > MAX_TEXT) throw new Error(`it renders ${text.length} characters, more than the ${MAX_TEXT} a prompt may have`);
    return { text };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

if (parentPort !== null) {
  const { port, flag } = workerData as TemplateWorkerData;
  const signal = (): void => {
    Atomics.add(flag, 0, 1);
    Atomics.notify(flag, 0);
  };
  port.on('message', (request: RenderRequest) => {
    port.postMessage(render(request));
    signal();
  });
  signal();
}
