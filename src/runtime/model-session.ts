import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseConfig, type ModelSpec } from '../checkpoint/config.js';
import { probeReason } from '../cuda/ep-probe.js';
import { GemmaError } from '../util/errors.js';
import { GRAPH_CONTRACT, MANIFEST_FILE, MODEL_FILE, type Manifest } from '../quantize/manifest.js';
import type { ExecutionProvider } from '../quantize/precision.js';

export interface SessionOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per physical core). */
  threads: number;
  /** Default: the EP the export was built for. */
  ep?: ExecutionProvider;
  /** onnxruntime's per-node profiler writes `<prefix>_<time>.json` when the session ends profiling (bench/decode-profile.ts). */
  profilePrefix?: string;
}

export interface LoadedModel {
  dir: string;
  manifest: Manifest;
  spec: ModelSpec;
  session: ort.InferenceSession;
  ep: ExecutionProvider;
}

export async function readManifest(dir: string): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  } catch {
    throw new GemmaError(`${dir} is not a gemma export (no readable ${MANIFEST_FILE})`);
  }
  if (manifest.format !== 'gemma-onnx') throw new GemmaError(`${dir}: ${MANIFEST_FILE} is not a gemma export manifest`);
  if (manifest.contract !== GRAPH_CONTRACT) {
    throw new GemmaError(`${dir} was exported with graph contract ${String(manifest.contract)}, this gemma needs ${GRAPH_CONTRACT}: convert it again with gemma quantize`);
  }
  // Exports written before CUDA graphs existed are CPU graphs and did not record it in the weights.
  manifest.weights.ep ??= manifest.ep ?? 'cpu';
  return manifest;
}

/**
 * The exporter writes CPU graphs in the form they run in: onnxruntime's optimizers found
 * nothing to fuse in them that changed the run time, yet enabling them made it copy the
 * memory-mapped weights into fresh memory (constant folding), which doubled the session
 * load (docs/benchmarks.md, "Change: CPU sessions without graph optimizations"). CUDA graphs keep
 * them: the device check measured them that way.
 */
const optimizationLevel = (ep: ExecutionProvider): ort.InferenceSession.SessionOptions['graphOptimizationLevel'] => (ep === 'cpu' ? 'disabled' : 'all');

function sessionOptions(ep: ExecutionProvider, threads: number, profilePrefix: string | undefined): ort.InferenceSession.SessionOptions {
  return {
    ...(profilePrefix !== undefined ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
    // onnxruntime-node has no automatic fallback: a CUDA session either loads on CUDA or fails.
    executionProviders: ep === 'cuda' ? [{ name: 'cuda', deviceId: 0 }] : ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: optimizationLevel(ep),
    // Errors only: onnxruntime's warnings (such as the Memcpy nodes it adds on CUDA) are not the user's to act on.
    logSeverityLevel: 3,
    // Spinning threads steal the only other core on small machines; measured to help with 2 threads.
    extra: { session: { intra_op: { allow_spinning: threads === 1 ? '1' : '0' } } },
  };
}

/** Loads an export folder into an onnxruntime session. Blocks the thread for seconds on big models. */
export async function loadModel(dir: string, options: SessionOptions): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  const spec = parseConfig(manifest.config);
  const ep = options.ep ?? manifest.ep;
  try {
    const session = await ort.InferenceSession.create(join(dir, MODEL_FILE), sessionOptions(ep, options.threads, options.profilePrefix));
    return { dir, manifest, spec, session, ep };
  } catch (err) {
    const hint = ep === 'cuda' ? ' (gemma doctor tells what CUDA needs)' : '';
    throw new GemmaError(`cannot load ${join(dir, MODEL_FILE)} on ${ep}: ${probeReason(String((err as Error)?.message ?? err), '')}${hint}`);
  }
}
