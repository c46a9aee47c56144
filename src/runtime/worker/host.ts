import { parentPort } from 'node:worker_threads';
import { GemmaError } from '../../util/errors.js';
import type { Engine } from '../engine.js';
import { loadEngine } from '../runtime.js';
import type { Request, Response } from './protocol.js';

/* The worker side of RemoteEngine: the Engine, its session and its KV cache live here. */
const port = parentPort!;
let engine: Engine | undefined;

function opened(): Engine {
  if (engine === undefined) throw new Error('engine not opened');
  return engine;
}

async function handle(req: Request): Promise<Response | undefined> {
  switch (req.type) {
    case 'open':
      engine = await loadEngine(req.dir, req.options);
      return { type: 'opened', engine: { spec: engine.spec, options: engine.options, manifest: engine.model.manifest } };
    case 'feed': {
      const logits = await opened().feed(req.ids, req.allPositions);
      return { type: 'fed', logits, counters: { ...opened().counters } };
    }
    case 'rollback':
      opened().rollback(req.length);
      return undefined;
  }
}

/** Logits move to the main thread without a copy (onnxruntime-node gives each output its own ArrayBuffer). */
const transfers = (r: Response): ArrayBuffer[] =>
  r.type === 'fed' ? [...new Set(r.logits.map((l) => l.buffer as ArrayBuffer))] : [];

let queue = Promise.resolve();
port.on('message', (req: Request) => {
  queue = queue.then(async () => {
    try {
      const response = await handle(req);
      if (response !== undefined) port.postMessage(response, transfers(response));
    } catch (err) {
      port.postMessage({ type: 'error', message: (err as Error).message, expected: err instanceof GemmaError } satisfies Response);
    }
  });
});
