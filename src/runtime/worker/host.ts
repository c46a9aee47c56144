import { parentPort } from 'node:worker_threads';
import { GemmaError } from '../../util/errors.js';
import { loadStage, readExport } from '../model-session.js';
import { cachePlanOf } from '../kv-cache.js';
import { Stage, type StageOutput } from '../stage.js';
import type { Request, Response } from './protocol.js';

/* The worker side of RemoteStage: one stage's session and the KV caches of its layers, one per slot, live here. */
const port = parentPort!;
let open: (() => Stage) | undefined;
const slots = new Map<number, Stage>();

/** Slot `slot`'s cache over the one session, made on first use. */
function opened(slot: number): Stage {
  if (open === undefined) throw new Error('stage not opened');
  let stage = slots.get(slot);
  if (stage === undefined) slots.set(slot, (stage = open()));
  return stage;
}

async function handle(req: Request): Promise<Response | undefined> {
  switch (req.type) {
    case 'open': {
      const info = await readExport(req.dir, req.ep);
      const { plan, session, loop } = await loadStage(info, req.stage, { threads: req.threads, decodeLoop: req.decodeLoop });
      const caches = cachePlanOf(info.manifest, info.spec, req.prefillChunk);
      open = () => new Stage(plan, session, info.spec, caches, false, loop);
      return { type: 'opened', plan };
    }
    case 'run':
      return { type: 'ran', output: await opened(req.slot).run(req.input) };
    case 'decode':
      return { type: 'decoded', tokens: await opened(req.slot).decode(req.input) };
    case 'truncate':
      opened(req.slot).truncate(req.length);
      return undefined;
  }
}

/** Outputs move to the main thread without a copy (onnxruntime-node gives each output its own ArrayBuffer). */
const transfers = (r: Response): ArrayBuffer[] => {
  if (r.type !== 'ran') return [];
  const out: StageOutput = r.output;
  return ['logits' in out ? out.logits.buffer : out.hidden.buffer] as ArrayBuffer[];
};

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
