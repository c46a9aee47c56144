import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeFsError, GemmaError } from '../util/errors.js';
import { readRegularFile, requireRegularFile } from '../util/regular-file.js';
import { parseConfig, type ModelSpec } from './config.js';
import { openSafetensors, readRows, type SafetensorsFile, type TensorEntry } from './safetensors.js';
import { expectedTensors } from './tensor-names.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
/** Files copied next to an export so it can be tokenized and run without the checkpoint. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model'];
export const GENERATION_CONFIG = 'generation_config.json';

interface Located {
  file: SafetensorsFile;
  entry: TensorEntry;
}

/** A model's tensors, read a run of rows at a time: what the converter streams into an export. */
export interface TensorSource {
  spec: ModelSpec;
  shape(name: string): number[];
  /** Bytes the tensor occupies as stored. */
  tensorBytes(name: string): number;
  /** Rows [start, start + count) of a tensor, as fp32. */
  rows(name: string, start: number, count: number): Promise<Float32Array>;
}

/** An opened Hugging Face Gemma 2 checkpoint directory whose tensors are read lazily. */
export interface Checkpoint extends TensorSource {
  dir: string;
  /** The parsed config.json as found, recorded in export manifests. */
  rawConfig: Record<string, unknown>;
  /** Bytes of every tensor the model uses, as stored. */
  storedBytes: number;
  tensorCount: number;
  close(): Promise<void>;
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readRegularFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GemmaError(`missing ${what}: ${path}`);
    const described = describeFsError(err, `cannot read ${path}`);
    throw described instanceof GemmaError ? described : new GemmaError(`cannot read ${path}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new GemmaError(`${path} is not valid JSON`);
  }
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** Shard file names come from an untrusted index: they must be plain names inside the checkpoint directory. */
function shardName(name: unknown, tensor: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
    throw new GemmaError(`${INDEX_FILE}: tensor '${tensor}' maps to an invalid file name ${JSON.stringify(name)}`);
  }
  return name;
}

async function weightFiles(dir: string): Promise<string[]> {
  if (await exists(join(dir, INDEX_FILE))) {
    const index = await readJson(join(dir, INDEX_FILE), INDEX_FILE);
    const map = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== 'object' || map === null) throw new GemmaError(`${INDEX_FILE} has no weight_map`);
    const files = new Set(Object.entries(map).map(([tensor, file]) => shardName(file, tensor)));
    for (const file of files) {
      if (!(await exists(join(dir, file)))) throw new GemmaError(`missing shard ${file} listed in ${INDEX_FILE}`);
    }
    return [...files].sort();
  }
  if (await exists(join(dir, SINGLE_FILE))) return [SINGLE_FILE];
  throw new GemmaError(`no weights in ${dir}: expected ${SINGLE_FILE} or ${INDEX_FILE}`);
}

const LAYER_TENSOR = /^model\.layers\.(\d+)\./;

/** Weights of layers past num_hidden_layers would be ignored without a word: the config does not describe these weights. */
function checkLayerCount(dir: string, names: Iterable<string>, layers: number): void {
  let held = 0;
  for (const name of names) held = Math.max(held, Number(LAYER_TENSOR.exec(name)?.[1] ?? -1) + 1);
  if (held > layers) {
    throw new GemmaError(`config.json in ${dir} says num_hidden_layers ${layers}, but the weights hold ${held} layers: correct config.json`);
  }
}

async function locateTensors(dir: string, files: SafetensorsFile[], spec: ModelSpec): Promise<Map<string, Located>> {
  const all = new Map<string, Located>();
  for (const file of files) {
    for (const entry of file.tensors.values()) all.set(entry.name, { file, entry });
  }
  const located = new Map<string, Located>();
  for (const [name, shape] of expectedTensors(spec)) {
    const found = all.get(name);
    if (found === undefined) throw new GemmaError(`checkpoint ${dir} has no tensor '${name}'`);
    if (found.entry.shape.join() !== shape.join()) {
      throw new GemmaError(`tensor '${name}' has shape [${found.entry.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
    }
    located.set(name, found);
  }
  checkLayerCount(dir, all.keys(), spec.config.num_hidden_layers);
  return located;
}

/** The tokenizer and generation files are copied as they are: a named pipe among them would block the copy forever. */
async function checkSideFiles(dir: string): Promise<void> {
  for (const name of [...TOKENIZER_FILES, GENERATION_CONFIG]) {
    const found = await stat(join(dir, name)).catch(() => undefined);
    if (found !== undefined) requireRegularFile(join(dir, name), found);
  }
}

/** Opens a checkpoint directory, validating config.json and every tensor header before any weight is read. */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new GemmaError(`not a directory: ${dir}`);
  const rawConfig = (await readJson(join(dir, 'config.json'), 'config.json')) as Record<string, unknown>;
  const spec = parseConfig(rawConfig);
  await checkSideFiles(dir);
  const files: SafetensorsFile[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(files.map((f) => f.handle.close()));
  };
  try {
    for (const name of await weightFiles(dir)) files.push(await openSafetensors(join(dir, name)));
    const tensors = await locateTensors(dir, files, spec);
    const get = (name: string): Located => {
      const t = tensors.get(name);
      if (t === undefined) throw new Error(`tensor ${name} is not part of the model`);
      return t;
    };
    const storedBytes = [...tensors.values()].reduce((sum, t) => sum + t.entry.byteLength, 0);
    return {
      dir, spec, rawConfig, storedBytes, close,
      tensorCount: tensors.size,
      shape: (name) => get(name).entry.shape,
      tensorBytes: (name) => get(name).entry.byteLength,
      rows: (name, start, count) => readRows(get(name).file, get(name).entry, start, count),
    };
  } catch (err) {
    await close();
    throw err;
  }
}
