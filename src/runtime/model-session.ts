import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseConfig, type ModelSpec } from '../checkpoint/config.js';
import { GemmaError } from '../util/errors.js';
import { GRAPH_CONTRACT, MANIFEST_FILE, MODEL_FILE, type Manifest } from '../quantize/manifest.js';

export interface SessionOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per physical core). */
  threads: number;
}

export interface LoadedModel {
  dir: string;
  manifest: Manifest;
  spec: ModelSpec;
  session: ort.InferenceSession;
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
  return manifest;
}

/** Loads an export folder into an onnxruntime CPU session. Blocks the thread for seconds on big models. */
export async function loadModel(dir: string, options: SessionOptions): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  const spec = parseConfig(manifest.config);
  try {
    const session = await ort.InferenceSession.create(join(dir, MODEL_FILE), {
      executionProviders: ['cpu'],
      intraOpNumThreads: options.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // Spinning threads steal the only other core on small machines; measured to help with 2 threads.
      extra: { session: { intra_op: { allow_spinning: options.threads === 1 ? '1' : '0' } } },
    });
    return { dir, manifest, spec, session };
  } catch (err) {
    throw new GemmaError(`cannot load ${join(dir, MODEL_FILE)}: ${(err as Error).message.split('\n')[0]}`);
  }
}
