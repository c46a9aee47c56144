import { parentPort, workerData } from 'node:worker_threads';
import { GemmaError } from '../../util/errors.js';
import { variantName } from '../../quantize/precision.js';
import { openRuntime, type Runtime } from '../runtime.js';
import { INTERRUPT, type Request, type Response } from './protocol.js';

/*
 * The worker side of RemoteRuntime: onnxruntime's session load and runs block their
 * thread, so they happen here while the main thread keeps the terminal responsive.
 */
const port = parentPort!;
const flag = new Int32Array(workerData.interrupt as SharedArrayBuffer);
let runtime: Runtime | undefined;

const send = (r: Response): void => port.postMessage(r);

function opened(): Runtime {
  if (runtime === undefined) throw new Error('runtime not opened');
  return runtime;
}

async function handle(req: Request): Promise<Response> {
  switch (req.type) {
    case 'open': {
      const started = performance.now();
      runtime = await openRuntime(req.dir, req.options);
      const { manifest } = runtime.model;
      const info = {
        ctxSize: runtime.engine.options.ctxSize, defaults: runtime.defaults, hasTemplate: runtime.chat.hasTemplate,
        source: manifest.source.label, variant: variantName(manifest.weights), loadMs: performance.now() - started,
      };
      return { type: 'opened', info };
    }
    case 'chat':
    case 'complete': {
      Atomics.store(flag, INTERRUPT, 0);
      const turn = { ...req.turn, onText: (piece: string) => send({ type: 'text', piece }), interrupted: () => Atomics.load(flag, INTERRUPT) === 1 };
      const chat = opened().chat;
      const result = req.type === 'chat' ? await chat.chat(req.text, turn) : await chat.complete(req.text, turn);
      return { type: 'done', result };
    }
    case 'reset':
      opened().chat.reset();
      return { type: 'reset' };
  }
}

let queue = Promise.resolve();
port.on('message', (req: Request) => {
  queue = queue.then(async () => {
    try {
      send(await handle(req));
    } catch (err) {
      send({ type: 'error', message: (err as Error).message, expected: err instanceof GemmaError });
    }
  });
});
