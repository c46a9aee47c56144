import type { TensorSource } from '../checkpoint/checkpoint.js';
import type { ExternalDataWriter } from './external-data.js';
import type { ExternalRef, GraphBuilder } from './graph-builder.js';
import type { DType } from './proto.js';
import { GemmaError } from '../util/errors.js';
import { f32ToF16 } from '../util/float16.js';
import { zeroPointBytesPerRow, blocksPerRow, bytesPerBlock, type QuantScheme, type FloatType } from '../quantize/block-quant.js';
import type { QuantizePool } from '../quantize/quantize-pool.js';

/** A linear layer's weights as stored in the graph, HF orientation [N, K] (y = x · Wᵀ). */
export type LinearWeights =
  | { kind: 'float'; weight: string; n: number; k: number }
  | { kind: 'nbits'; codes: string; scales: string; zeroPoints?: string; n: number; k: number; scheme: QuantScheme };

export interface WeightProgress {
  tensor: string;
  /** Source bytes consumed by this step. */
  bytes: number;
}

/** Rows per read: bounds memory to ~64 MB of fp32 whatever the tensor (the 2B embedding alone is 2.4 GB in fp32). */
const CHUNK_ELEMENTS = 16 * 1024 * 1024;

const bytesOf = (a: Float32Array | Uint16Array | Uint8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The bytes of fp32 values stored as `type` (fp16 values are rounded to nearest even). */
function encode(values: Float32Array, type: FloatType): Uint8Array {
  if (type === 'float32') return bytesOf(values);
  return bytesOf(Uint16Array.from(values, f32ToF16));
}

/** A corrupt or diverged checkpoint would otherwise quantize to silent garbage. */
function checkFinite(values: Float32Array, tensor: string, firstRow: number, cols: number): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new GemmaError(`tensor '${tensor}' has a non-finite value (${values[i]}) in row ${firstRow + Math.floor(i / cols)}`);
    }
  }
}

/** fp16 scales (the CUDA graph's) overflow where a block's weights reach about 65504 steps; the graph would compute NaN. */
function checkScales(scales: Float32Array, tensor: string, firstRow: number, blocksPerRow: number, scheme: QuantScheme): void {
  const bad = scales.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new GemmaError(`tensor '${tensor}' has weights too large for ${scheme.scaleType ?? 'float32'} quantization scales in row ${firstRow + Math.floor(bad / blocksPerRow)}`);
  }
}

/** Declares an initializer stored in the data file; returns its name. */
type Declare = (name: string, dtype: DType, dims: number[], ref: ExternalRef) => string;

interface Stored {
  result: unknown;
  tensors: Parameters<Declare>[];
}

/**
 * Streams checkpoint tensors into the external data file, one row chunk at a time,
 * and declares the matching initializers in the graph. Each weight is written once: the
 * writers of an export's other graphs (`forGraph`) declare the same bytes again.
 */
export class WeightWriter {
  private readonly declared = new Set<string>();

  constructor(
    private readonly checkpoint: TensorSource,
    private readonly data: ExternalDataWriter,
    private readonly graph: GraphBuilder,
    private readonly onProgress: (p: WeightProgress) => void,
    private readonly pool: QuantizePool,
    private readonly stored = new Map<string, Stored>(),
  ) {}

  /** A writer for another graph of the same export, sharing the data file and what is already in it. */
  forGraph(graph: GraphBuilder): WeightWriter {
    return new WeightWriter(this.checkpoint, this.data, graph, this.onProgress, this.pool, this.stored);
  }

  /** `write`'s result for `key`, writing its bytes only the first time in the export and declaring them once per graph. */
  private async once<T>(key: string, write: (declare: Declare) => Promise<T>): Promise<T> {
    const known = this.stored.get(key);
    if (known !== undefined) {
      if (!this.declared.has(key)) known.tensors.forEach((t) => this.graph.external(...t));
      this.declared.add(key);
      return known.result as T;
    }
    const tensors: Parameters<Declare>[] = [];
    const result = await write((...t) => {
      tensors.push(t);
      return this.graph.external(...t);
    });
    this.stored.set(key, { result, tensors });
    this.declared.add(key);
    return result;
  }

  private async *chunks(source: string): AsyncGenerator<{ values: Float32Array; start: number; rows: number }> {
    const [rows, ...rest] = this.checkpoint.shape(source);
    const cols = rest.reduce((a, b) => a * b, 1);
    const step = Math.max(1, Math.floor(CHUNK_ELEMENTS / cols));
    for (let start = 0; start < rows!; start += step) {
      const count = Math.min(step, rows! - start);
      const values = await this.checkpoint.rows(source, start, count);
      checkFinite(values, source, start, cols);
      this.onProgress({ tensor: source, bytes: (this.checkpoint.tensorBytes(source) * count) / rows! });
      yield { values, start, rows: count };
    }
  }

  private rowCount(sources: string[]): { n: number; k: number } {
    const shapes = sources.map((s) => this.checkpoint.shape(s));
    const k = shapes[0]![1]!;
    if (shapes.some((s) => s[1] !== k)) throw new Error(`cannot stack ${sources.join(', ')}: different input sizes`);
    return { n: shapes.reduce((sum, s) => sum + s[0]!, 0), k };
  }

  /** The rows of `sources` stacked into one [N, K] fp32 initializer. */
  float(name: string, sources: string[]): Promise<LinearWeights> {
    return this.once(name, async (declare) => {
      const { n, k } = this.rowCount(sources);
      this.data.begin();
      for (const source of sources) {
        for await (const { values } of this.chunks(source)) await this.data.write(bytesOf(values));
      }
      return { kind: 'float', weight: declare(`${name}.weight`, 'float32', [n, k], this.data.end()), n, k };
    });
  }

  /** The rows of `sources` stacked and block-quantized for MatMulNBits. */
  nbits(name: string, sources: string[], scheme: QuantScheme): Promise<LinearWeights> {
    return this.once(name, (declare) => this.quantized(name, sources, scheme, declare));
  }

  private async quantized(name: string, sources: string[], scheme: QuantScheme, declare: Declare): Promise<LinearWeights> {
    const { n, k } = this.rowCount(sources);
    const nb = blocksPerRow(k, scheme.blockSize);
    const scales = new Float32Array(n * nb);
    const zpRow = zeroPointBytesPerRow(k, scheme);
    const zeroPoints = scheme.asymmetric ? new Uint8Array(n * zpRow) : undefined;
    let row = 0;
    this.data.begin();
    for (const source of sources) {
      for await (const { values, start, rows } of this.chunks(source)) {
        const q = await this.pool.quantize(values, rows, k, scheme);
        checkScales(q.scales, source, start, nb, scheme);
        await this.data.write(q.codes);
        scales.set(q.scales, row * nb);
        if (zeroPoints !== undefined) zeroPoints.set(q.zeroPoints!, row * zpRow);
        row += rows;
      }
    }
    const codes = declare(`${name}.codes`, 'uint8', [n, nb, bytesPerBlock(scheme)], this.data.end());
    const scaleType = scheme.scaleType ?? 'float32';
    const scalesName = declare(`${name}.scales`, scaleType, [n, nb], await this.data.tensor(encode(scales, scaleType)));
    const zp = zeroPoints === undefined
      ? {}
      : { zeroPoints: declare(`${name}.zero_points`, 'uint8', [n, zpRow], await this.data.tensor(zeroPoints)) };
    return { kind: 'nbits', codes, scales: scalesName, ...zp, n, k, scheme };
  }

  /** A 1-D tensor passed through `transform` (e.g. the 1 + w of Gemma's RMSNorm). */
  vector(name: string, source: string, transform: (v: Float32Array) => Float32Array): Promise<string> {
    return this.once(name, async (declare) => {
      const [length] = this.checkpoint.shape(source);
      const raw = await this.checkpoint.rows(source, 0, length!);
      checkFinite(raw, source, 0, 1);
      const values = transform(raw);
      this.onProgress({ tensor: source, bytes: this.checkpoint.tensorBytes(source) });
      return declare(name, 'float32', [values.length], await this.data.tensor(bytesOf(values)));
    });
  }

  /** A computed table (not from the checkpoint), such as the rotary caches, stored as `type`. */
  table(name: string, dims: number[], values: Float32Array, type: FloatType = 'float32'): Promise<string> {
    return this.once(name, async (declare) => declare(name, type, dims, await this.data.tensor(encode(values, type))));
  }
}
