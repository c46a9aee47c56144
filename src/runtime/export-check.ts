import { readFile } from 'node:fs/promises';
import type * as ort from 'onnxruntime-node';
import { ROTARY_COS } from '../onnx/attention.js';
import { hiddenStates, INPUT_IDS, LOGITS, pastKey, pastValue } from '../onnx/io-names.js';
import { onnx } from '../onnx/proto.js';
import type { StagePlan } from '../onnx/stages.js';
import { MANIFEST_FILE, type Manifest } from '../export/manifest.js';
import { ATTENTION_KERNELS, EXECUTION_PROVIDERS, PRECISIONS } from '../quantize/precision.js';
import type { ModelSpec } from '../checkpoint/config.js';
import { GemmaError } from '../util/errors.js';

/** An export whose files do not agree with each other: nothing the user can repair but by converting again. */
export const damagedExport = (dir: string, what: string): GemmaError =>
  new GemmaError(`the export in ${dir} is damaged (${what}): convert the checkpoint again with gemma quantize`);

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** File names in the manifest are joined to the export folder: they must stay inside it. */
const isPlainName = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== '.' && v !== '..' && !/[/\\]/.test(v);
const isStage = (v: unknown): boolean =>
  isObject(v) && isPlainName(v.file) && Array.isArray(v.layers) && v.layers.length === 2 && v.layers.every((n) => Number.isInteger(n) && n >= 0);

/** The first field of a parsed gemma.json that is missing or of the wrong kind, as its path. */
function badField(m: Json): string | undefined {
  const weights = isObject(m.weights) ? m.weights : undefined;
  const files = isObject(m.files) ? m.files : undefined;
  const checks: [string, boolean][] = [
    ['config', isObject(m.config)],
    ['weights', weights !== undefined],
    ['weights.precision', (PRECISIONS as readonly unknown[]).includes(weights?.precision)],
    ['weights.blockSize', Number.isInteger(weights?.blockSize)],
    ['weights.asymmetric', typeof weights?.asymmetric === 'boolean'],
    ['weights.accuracyLevel', Number.isInteger(weights?.accuracyLevel)],
    ['weights.keepEmbeddings', typeof weights?.keepEmbeddings === 'boolean'],
    ['weights.attention', (ATTENTION_KERNELS as readonly unknown[]).includes(weights?.attention)],
    ['ep', (EXECUTION_PROVIDERS as readonly unknown[]).includes(m.ep)],
    ['stages', Array.isArray(m.stages) && m.stages.every(isStage)],
    ['files.data', isPlainName(files?.data)],
    ['files.tokenizer', Array.isArray(files?.tokenizer) && files.tokenizer.every(isPlainName)],
    ['loop', m.loop === undefined || isPlainName(m.loop)],
  ];
  return checks.find(([, ok]) => !ok)?.[0];
}

/** Refuses a gemma.json that lacks a field the runtime reads, or names a file outside the export. */
export function checkManifestFields(dir: string, manifest: Manifest): void {
  const field = badField(manifest as unknown as Json);
  if (field !== undefined) throw damagedExport(dir, `'${field}' in ${MANIFEST_FILE} is missing or invalid`);
}

/** Each input and output the stage's graph must have, with its dimensions (null where symbolic). */
function expectedIo(spec: ModelSpec, plan: StagePlan, transposedValues: boolean): Map<string, (number | null)[]> {
  const { num_key_value_heads: kvh, head_dim: hd, hidden_size: hidden, vocab_size: vocab, num_hidden_layers: layers } = spec.config;
  const [start, end] = plan.layers;
  const io = new Map<string, (number | null)[]>();
  if (start === 0) io.set(INPUT_IDS, [1, null]);
  else io.set(hiddenStates(start), [null, hidden]);
  if (end === layers) io.set(LOGITS, [1, null, vocab]);
  else io.set(hiddenStates(end), [null, hidden]);
  for (let layer = start; layer < end; layer++) {
    io.set(pastKey(layer), [kvh, null, hd]);
    io.set(pastValue(layer), transposedValues ? [kvh, hd, null] : [kvh, null, hd]);
  }
  return io;
}

const shapeText = (dims: readonly (number | string | null)[]): string => `[${dims.map((d) => (typeof d === 'number' ? d : '?')).join(', ')}]`;

/**
 * Compares the graph onnxruntime loaded with what gemma.json says it is: a stage file swapped for another, or an
 * edited size in the manifest, would otherwise fail inside onnxruntime mid-answer, or run with the wrong shapes.
 */
export function checkStageIo(dir: string, spec: ModelSpec, plan: StagePlan, transposedValues: boolean, session: ort.InferenceSession): void {
  const found = new Map([...session.inputMetadata, ...session.outputMetadata].map((m) => [m.name, m.isTensor ? m.shape : []]));
  for (const [name, dims] of expectedIo(spec, plan, transposedValues)) {
    const shape = found.get(name);
    if (shape === undefined) throw damagedExport(dir, `${plan.file} has no ${name}, which ${MANIFEST_FILE} implies for layers ${plan.layers[0]} to ${plan.layers[1] - 1}`);
    const fits = shape.length === dims.length && dims.every((d, i) => d === null || shape[i] === d);
    if (!fits) throw damagedExport(dir, `${name} in ${plan.file} is ${shapeText(shape)}, ${MANIFEST_FILE} implies ${shapeText(dims)}`);
  }
}

/** Rows of the graph's rotary table: the positions it can encode (the initializer's dims; its data is elsewhere). */
async function rotaryPositions(path: string): Promise<number | undefined> {
  const graph = onnx.ModelProto.decode(await readFile(path)).graph;
  const table = graph?.initializer?.find((t) => t.name === ROTARY_COS);
  return table?.dims?.[0] === undefined || table.dims[0] === null ? undefined : Number(table.dims[0]);
}

/** A gemma.json promising more positions than the graph's rotary table holds would fail at that position, mid-answer. */
export async function checkRotaryTable(dir: string, spec: ModelSpec, plan: StagePlan, path: string): Promise<void> {
  const rows = await rotaryPositions(path);
  const max = spec.config.max_position_embeddings;
  if (rows !== undefined && rows !== max) throw damagedExport(dir, `the rotary table in ${plan.file} holds ${rows} positions, ${MANIFEST_FILE} says max_position_embeddings ${max}`);
}
