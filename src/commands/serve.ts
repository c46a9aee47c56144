import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { basename, join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { cudaReadiness } from '../cuda/provider-status.js';
import { openServedModel, type ServedModel } from '../runtime/served-model.js';
import { createApiServer } from '../server/http-server.js';
import { GemmaError } from '../util/errors.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { noticeContextFit } from './context-notice.js';
import { interruptedExitCode, interruptible } from './interrupt.js';
import { MODEL_ARGUMENT } from './model-argument.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { interactive, spinner } from './progress.js';
import { resolveModel } from './resolve-model.js';
import { SERVE_OPTIONS } from './serve-options.js';
import { turnOptions } from './turn-options.js';

type ServeOptions = OptionValues<typeof SERVE_OPTIONS>;

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** A folder's own name, else the argument as given (a repo id, tiny-random). */
const modelName = (arg: string): string => (existsSync(arg) ? basename(resolve(arg)) : arg);

async function load(model: string, o: ServeOptions): Promise<ServedModel> {
  const { dir, ep } = await resolveModel(model, interactive(o.json), o.ep, () => cudaReadiness());
  const wait = spinner(interactive(o.json), `Loading ${model}`);
  try {
    const loaded = await openServedModel(dir, { threads: o.threads, ep, decodeSteps: o.decodeSteps, caches: o.parallel, ...(o.ctxSize !== undefined ? { ctxSize: o.ctxSize } : {}) }, o.special ? 'control' : 'text');
    noticeContextFit(loaded.options);
    return loaded;
  } finally {
    wait.stop();
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use: pick another --port (0 picks a free one)'
        : err.code === 'EACCES' ? 'permission denied: ports below 1024 need privileges, pick another --port'
        : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' ? 'the address is not one of this machine\'s: check --host'
        : err.message;
      fail(new GemmaError(`cannot listen on ${host} port ${port}: ${why}`));
    });
    server.listen(port, host, () => done((server.address() as AddressInfo).port));
  });
}

async function serve(model: string, o: ServeOptions): Promise<void> {
  const apiKey = o.apiKey ?? (process.env.GEMMA_API_KEY || undefined);
  if (!isLoopback(o.host) && apiKey === undefined) {
    process.stderr.write(`gemma: warning: --host ${o.host} without --api-key: anyone who can reach this port can use the model\n`);
  }
  const loaded = await load(model, o);
  try {
    const name = modelName(model);
    const server = createApiServer(loaded, {
      name, maxQueue: o.maxQueue, pageDir: join(PACKAGE_ROOT, 'assets', 'chat'), turnDefaults: () => turnOptions(o, loaded.defaults),
      ...(apiKey !== undefined ? { apiKey } : {}), ...(o.verbose ? { log: (line: string) => void process.stderr.write(`gemma: ${line}\n`) } : {}),
    });
    const stop = interruptible();
    try {
      const port = await listen(server, o.port, o.host);
      const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
      process.stderr.write(`gemma: serving ${name} on ${url}\n`);
      if (o.json) process.stdout.write(`${JSON.stringify({ model: name, url })}\n`);
      await new Promise((stopped) => stop.signal.addEventListener('abort', stopped, { once: true }));
      server.closeAllConnections();
      server.close();
      process.exitCode = interruptedExitCode();
    } finally {
      stop.dispose();
    }
  } finally {
    await loaded.close();
  }
}

export function serveCommand(): Command {
  return commandWithArgument('serve', 'serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models) and a chat page', MODEL_ARGUMENT, SERVE_OPTIONS, serve);
}
