import type { Readiness } from '../cuda/provider-status.js';
import type { ExecutionProvider } from '../quantize/precision.js';
import { GemmaError } from '../util/errors.js';

/** What `--ep` accepts: auto picks CUDA when this machine can run it, else the CPU. */
export const EP_CHOICES = ['auto', 'cpu', 'cuda'] as const;
export type EpChoice = (typeof EP_CHOICES)[number];

/** What this machine can do with CUDA (cudaReadiness measures it). */
export type CudaState = Readiness;

export interface EpDecision {
  ep: ExecutionProvider;
  /** Said once on stderr when auto falls back to the CPU although a GPU is there. */
  notice?: string;
}

const unusable = (cuda: CudaState): string => `CUDA is not usable here: ${cuda.problems.join('; ')}`;

/** The EP to convert a checkpoint for, when a command is given a checkpoint rather than an export. */
export function conversionTarget(choice: EpChoice, cuda: CudaState): EpDecision {
  if (choice === 'cpu') return { ep: 'cpu' };
  if (cuda.ready) return { ep: 'cuda' };
  if (choice === 'cuda') throw new GemmaError(`--ep cuda: ${unusable(cuda)}`);
  return cuda.gpu ? { ep: 'cpu', notice: `${unusable(cuda)}; using the CPU (gemma doctor has details)` } : { ep: 'cpu' };
}

/**
 * The EP that runs an existing export. Each export is built for one EP (fp16 CUDA graph or
 * fp32 CPU graph), so asking for the other one is refused rather than run slowly.
 */
export function runTarget(choice: EpChoice, built: ExecutionProvider, cuda: CudaState): ExecutionProvider {
  if (choice !== 'auto' && choice !== built) {
    throw new GemmaError(`this export is built for ${built}, not ${choice}: convert the checkpoint again with gemma quantize --ep ${choice}`);
  }
  if (built === 'cuda' && !cuda.ready) {
    throw new GemmaError(`this export is built for CUDA and ${unusable(cuda)}; or convert the checkpoint for the CPU with gemma quantize --ep cpu`);
  }
  return built;
}
