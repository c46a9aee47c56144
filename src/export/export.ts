import { copyFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GENERATION_CONFIG, openCheckpoint, TOKENIZER_FILES, type Checkpoint } from '../checkpoint/checkpoint.js';
import { sourceFiles, type SourceFiles } from '../checkpoint/source-files.js';
import { buildDecodeLoop } from '../onnx/decode-loop.js';
import { buildGemma2Stage } from '../onnx/gemma2-graph.js';
import { ExternalDataWriter } from '../onnx/external-data.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { defaultStages, planStages, type StagePlan } from '../onnx/stages.js';
import { readGenerationDefaults } from '../runtime/generation-config.js';
import { encodeTables, TABLES_FILE } from '../tokenizer/tables-file.js';
import { readTokenizerConfig, tablesFromFolder } from '../tokenizer/tokenizer-files.js';
import { describeFsError, GemmaError } from '../util/errors.js';
import { VERSION } from '../util/package-root.js';
import { intoExportFolder, type FolderRequest } from './export-folder.js';
import { DATA_FILE, GRAPH_CONTRACT, hasDecodeLoop, LOOP_FILE, MANIFEST_FILE, type Manifest } from './manifest.js';
import { variantName, type WeightFormat } from '../quantize/precision.js';
import { QuantizePool } from '../quantize/quantize-pool.js';
import { WeightWriter, type WeightProgress } from '../onnx/weight-writer.js';

export interface ExportRequest extends ConvertRequest {
  checkpointDir: string;
}

/** What a conversion takes besides the checkpoint. */
export interface ConvertRequest extends FolderRequest {
  format: WeightFormat;
  /** Graphs the layers are cut into (default: 2 on the CPU, 1 on CUDA; docs/graph-contract.md). */
  stages?: number;
  /** How the source is named in the manifest (a path, `tiny-random`, a repo id). */
  label: string;
  onStart?: (info: { tensors: number; bytes: number }) => void;
  onProgress?: (p: { tensor: string; bytes: number }) => void;
}

export interface ExportResult {
  outDir: string;
  manifest: Manifest;
  /** False where an export made from the checkpoint as it is now was kept (`keepCurrent`). */
  converted: boolean;
  seconds: number;
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** onnxruntime's CPU GroupQueryAttention kernel refuses other head sizes at run time; every Gemma 2 size (128, 256) is one. */
const GQA_HEAD_DIM_MULTIPLE = 16;

export function validateFormat(format: WeightFormat, checkpoint: Checkpoint): void {
  const { blockSize, precision, accuracyLevel } = format;
  if (!Number.isInteger(blockSize) || blockSize < 16 || blockSize > 256 || (blockSize & (blockSize - 1)) !== 0) {
    throw new GemmaError(`block size must be a power of two from 16 to 256, got ${blockSize}`);
  }
  if (!Number.isInteger(accuracyLevel) || accuracyLevel < 0 || accuracyLevel > 4) {
    throw new GemmaError(`accuracy level must be 0 to 4, got ${accuracyLevel}`);
  }
  if (format.ep === 'cuda' && (precision === 'fp32' || format.keepEmbeddings)) {
    throw new GemmaError('the CUDA graph needs quantized weights (int4 or int8, embeddings included): fp32 exports are the CPU exactness reference');
  }
  const headDim = checkpoint.spec.config.head_dim;
  if (format.attention === 'gqa' && headDim % GQA_HEAD_DIM_MULTIPLE !== 0) {
    throw new GemmaError(`--attention gqa needs head_dim to be a multiple of ${GQA_HEAD_DIM_MULTIPLE} (onnxruntime's GroupQueryAttention), this model's is ${headDim}: use --attention ops`);
  }
  const hidden = checkpoint.spec.config.hidden_size;
  if (precision !== 'fp32' && !format.keepEmbeddings && hidden % blockSize !== 0) {
    throw new GemmaError(`block size ${blockSize} does not divide hidden_size ${hidden}, which the quantized embedding needs; use a smaller block size or keep embeddings in fp32`);
  }
}

/**
 * The tokenizer as flat tables, so that loading it skips parsing tokenizer.json; an unsupported
 * tokenizer stops the export here. Read from the checkpoint, so that a problem names its file there.
 */
async function writeTokenizerTables(checkpointDir: string, tmp: string): Promise<void> {
  const config = (await exists(join(checkpointDir, 'tokenizer_config.json'))) ? await readTokenizerConfig(checkpointDir) : {};
  await writeFile(join(tmp, TABLES_FILE), encodeTables(await tablesFromFolder(checkpointDir, config)));
}

async function copySidecars(checkpointDir: string, tmp: string): Promise<{ tokenizer: string[]; generationConfig?: string }> {
  const tokenizer: string[] = [];
  for (const file of TOKENIZER_FILES) {
    if (await exists(join(checkpointDir, file))) {
      await copyFile(join(checkpointDir, file), join(tmp, file));
      tokenizer.push(file);
    }
  }
  if (!tokenizer.includes('tokenizer.json')) throw new GemmaError(`missing tokenizer.json in ${checkpointDir}`);
  await writeTokenizerTables(checkpointDir, tmp);
  tokenizer.push(TABLES_FILE);
  if (!(await exists(join(checkpointDir, GENERATION_CONFIG)))) return { tokenizer };
  await copyFile(join(checkpointDir, GENERATION_CONFIG), join(tmp, GENERATION_CONFIG));
  return { tokenizer, generationConfig: GENERATION_CONFIG };
}

/** The stages of the export, refused with one line where the count cannot be honoured. */
function stagesFor(req: Pick<ConvertRequest, 'format' | 'stages'>, checkpoint: Checkpoint): StagePlan[] {
  const count = req.stages ?? defaultStages(req.format.ep);
  if (req.format.ep === 'cuda' && count !== 1) throw new GemmaError('CUDA exports are one graph: --stages 1');
  try {
    return planStages(checkpoint.spec, count);
  } catch (err) {
    throw err instanceof RangeError ? new GemmaError(`--stages ${err.message}`) : err;
  }
}

/** Writes every stage's graph, all of them reading their weights from one data file, each weight stored once. */
async function writeGraphs(checkpoint: Checkpoint, tmp: string, req: ConvertRequest, stages: StagePlan[]): Promise<{ modelBytes: number; dataBytes: number; nodes: number }> {
  const data = await ExternalDataWriter.create(join(tmp, DATA_FILE));
  const graphs = stages.map(() => new GraphBuilder());
  const loop = hasDecodeLoop(stages) ? new GraphBuilder() : undefined;
  const progress = (p: WeightProgress): void => {
    if (req.signal?.aborted) throw new GemmaError('interrupted');
    req.onProgress?.(p);
  };
  const pool = new QuantizePool();
  try {
    let weights: WeightWriter | undefined;
    for (const [i, stage] of stages.entries()) {
      const g = graphs[i]!;
      weights = weights?.forGraph(g) ?? new WeightWriter(checkpoint, data, g, progress, pool);
      await buildGemma2Stage({ g, spec: checkpoint.spec, weights, format: req.format }, stage);
    }
    if (loop !== undefined) await buildDecodeLoop({ g: loop, spec: checkpoint.spec, weights: weights!.forGraph(loop), format: req.format });
  } finally {
    await pool.close();
    await data.close();
  }
  let modelBytes = 0;
  const files = stages.map((stage, i) => ({ file: stage.file, g: graphs[i]! }));
  if (loop !== undefined) files.push({ file: LOOP_FILE, g: loop });
  for (const { file, g } of files) {
    const bytes = g.serialize('gemma2', VERSION, { 'gemma.contract': GRAPH_CONTRACT, 'gemma.variant': variantName(req.format) });
    await writeFile(join(tmp, file), bytes);
    modelBytes += bytes.length;
  }
  return { modelBytes, dataBytes: data.bytesWritten, nodes: graphs.reduce((sum, g) => sum + g.nodeCount, 0) };
}

async function convertInto(checkpoint: Checkpoint, tmp: string, req: ConvertRequest, stages: StagePlan[], source: SourceFiles): Promise<Manifest> {
  const files = await copySidecars(checkpoint.dir, tmp);
  req.onStart?.({ tensors: checkpoint.tensorCount, bytes: checkpoint.storedBytes });
  const { modelBytes, dataBytes, nodes } = await writeGraphs(checkpoint, tmp, req, stages);
  const manifest: Manifest = {
    format: 'gemma-onnx',
    tool: { name: 'gemma', version: VERSION },
    contract: GRAPH_CONTRACT,
    source: { path: checkpoint.dir, label: req.label, files: source },
    config: checkpoint.rawConfig,
    weights: req.format,
    ep: req.format.ep,
    stages,
    ...(hasDecodeLoop(stages) ? { loop: LOOP_FILE } : {}),
    files: { data: DATA_FILE, ...files },
    sizes: { modelBytes, dataBytes },
    nodes,
    created: new Date().toISOString(),
  };
  await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Converts a Gemma 2 checkpoint into an ONNX export folder. Everything is written to a
 * temporary sibling of `outDir` and moved into place only when complete, so a failed or
 * interrupted run leaves nothing that looks like a model (src/export/export-folder.ts).
 */
export async function exportModel(req: ExportRequest): Promise<ExportResult> {
  const checkpoint = await openCheckpoint(req.checkpointDir);
  try {
    return await exportCheckpoint(checkpoint, req);
  } finally {
    await checkpoint.close();
  }
}

/** `exportModel` from a checkpoint already open: the benchmarks' generated one (bench/convert-shaped.ts) takes this way. */
export async function exportCheckpoint(checkpoint: Checkpoint, req: ConvertRequest): Promise<ExportResult> {
  const started = performance.now();
  validateFormat(req.format, checkpoint);
  // Refused here rather than when the export is first run, which would name the export's copy.
  await readGenerationDefaults(checkpoint.dir, checkpoint.spec.config);
  const stages = stagesFor(req, checkpoint);
  const source = await sourceFiles(checkpoint.dir);
  const { manifest, converted } = await intoExportFolder(req, source, (tmp) =>
    convertInto(checkpoint, tmp, req, stages, source).catch((err: unknown) => Promise.reject(describeFsError(err, `writing ${req.outDir}`))));
  return { outDir: req.outDir, manifest, converted, seconds: (performance.now() - started) / 1000 };
}
