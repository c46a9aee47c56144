import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseConfig, type ModelSpec } from '../checkpoint/config.js';
import { probeReason } from '../cuda/ep-probe.js';
import { checkManifestFields, checkRotaryTable, checkStageIo } from './export-check.js';
import { kvLayoutOf } from './kv-cache.js';
import { GemmaError } from '../util/errors.js';
import type { StagePlan } from '../onnx/stages.js';
import { GRAPH_CONTRACT, MANIFEST_FILE, type Manifest } from '../export/manifest.js';
import type { ExecutionProvider } from '../quantize/precision.js';

export interface SessionOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per physical core). */
  threads: number;
  /** onnxruntime's per-node profiler writes `<prefix>_<time>.json` when the session ends profiling (bench/decode-profile.ts). */
  profilePrefix?: string;
  /** Load the export's decode loop (--decode-steps above 1), which runs prompts too, instead of its one graph. */
  decodeLoop?: boolean;
}

/** An export's manifest and what follows from it, before any session exists. */
export interface ExportInfo {
  dir: string;
  manifest: Manifest;
  spec: ModelSpec;
  ep: ExecutionProvider;
}

/** One stage's graph in an onnxruntime session. */
export interface LoadedStage {
  plan: StagePlan;
  session: ort.InferenceSession;
  /** The session is the decode loop's graph. */
  loop: boolean;
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
  checkManifestFields(dir, manifest);
  if (manifest.stages.length === 0) throw new GemmaError(`${dir}: ${MANIFEST_FILE} lists no graphs`);
  return manifest;
}

/**
 * The exporter writes CPU graphs in the form they run in: onnxruntime's optimizers found
 * nothing to fuse in them that changed the run time, yet enabling them made it copy the
 * memory-mapped weights into fresh memory (constant folding), which doubled the session
 * load (docs/benchmarks-history.md, "Change: CPU sessions without graph optimizations"). CUDA graphs keep
 * them: the device check measured them that way.
 */
const optimizationLevel = (ep: ExecutionProvider): ort.InferenceSession.SessionOptions['graphOptimizationLevel'] => (ep === 'cpu' ? 'disabled' : 'all');

export function sessionOptions(ep: ExecutionProvider, threads: number, profilePrefix: string | undefined): ort.InferenceSession.SessionOptions {
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

/** Whether the stages run every layer once, in order. */
function coversLayers(stages: StagePlan[], layers: number): boolean {
  return stages.every((s, i) => s.layers[0] === (i === 0 ? 0 : stages[i - 1]!.layers[1]) && s.layers[1] > s.layers[0]) && stages.at(-1)!.layers[1] === layers;
}

/** The export's manifest and model spec; `ep` defaults to the one the export was built for. */
export async function readExport(dir: string, ep?: ExecutionProvider): Promise<ExportInfo> {
  const manifest = await readManifest(dir);
  const spec = parseConfig(manifest.config);
  if (!coversLayers(manifest.stages, spec.config.num_hidden_layers)) {
    throw new GemmaError(`${dir}: the graphs in ${MANIFEST_FILE} do not cover layers 0 to ${spec.config.num_hidden_layers - 1} in order: convert it again with gemma quantize`);
  }
  return { dir, manifest, spec, ep: ep ?? manifest.ep };
}

/** Refuses --decode-steps above 1 on an export without the decode loop, before any session loads. */
export function checkDecodeLoop(info: ExportInfo, decodeSteps: number): void {
  if (decodeSteps > 1 && info.manifest.loop === undefined) {
    throw new GemmaError(`--decode-steps ${decodeSteps} needs the decode loop, which only one-graph exports have: ${info.dir} has ${info.manifest.stages.length} graphs; convert it again with gemma quantize --stages 1, or use --decode-steps 1`);
  }
}

async function loadGraph(info: ExportInfo, file: string, options: SessionOptions): Promise<ort.InferenceSession> {
  const path = join(info.dir, file);
  try {
    return await ort.InferenceSession.create(path, sessionOptions(info.ep, options.threads, options.profilePrefix));
  } catch (err) {
    const hint = info.ep === 'cuda' ? ' (gemma doctor tells what CUDA needs)' : '';
    throw new GemmaError(`cannot load ${path} on ${info.ep}: ${probeReason(String((err as Error)?.message ?? err), '')}${hint}`);
  }
}

/** Loads stage `index` of an export (the decode loop's graph instead, if asked) into an onnxruntime session. Blocks the thread for seconds on big models. */
export async function loadStage(info: ExportInfo, index: number, options: SessionOptions): Promise<LoadedStage> {
  const plan = info.manifest.stages[index]!;
  const loop = options.decodeLoop === true && info.manifest.loop !== undefined;
  const file = loop ? info.manifest.loop! : plan.file;
  const session = await loadGraph(info, file, options);
  try {
    // The loop's inputs are its own (docs/graph-contract.md); the step graph's are checked against gemma.json.
    if (!loop) checkStageIo(info.dir, info.spec, plan, kvLayoutOf(info.manifest).transposedValues, session);
    await checkRotaryTable(info.dir, info.spec, { ...plan, file }, join(info.dir, file));
  } catch (err) {
    await session.release();
    throw err;
  }
  return { plan, session, loop };
}
