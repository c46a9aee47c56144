import { fitNotice } from '../runtime/memory-plan.js';
import type { EngineOptions } from '../runtime/engine.js';

/** Tells, on stderr, that the default context was lowered to fit the memory available. */
export function noticeContextFit(options: Pick<EngineOptions, 'contextFit'>): void {
  if (options.contextFit !== undefined) process.stderr.write(`gemma: ${fitNotice(options.contextFit)}\n`);
}
