import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ExternalDataWriter } from '../onnx/external-data.js';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import { GemmaError } from '../util/errors.js';
import { f32ToF16 } from '../util/float16.js';
import { quantizeRows, zeroPointBytesPerRow, blocksPerRow, bytesPerBlock, type QuantScheme, type FloatType } from './block-quant.js';

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

/**
 * Streams checkpoint tensors into the external data file, one row chunk at a time,
 * and declares the matching initializers in the graph.
 */
export class WeightWriter {
  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly data: ExternalDataWriter,
    private readonly graph: GraphBuilder,
    private readonly onProgress: (p: WeightProgress) => void,
  ) {}

  private async *chunks(source: string): AsyncGenerator<{ values: Float32Array; rows: number }> {
    const [rows, ...rest] = this.checkpoint.shape(source);
    const cols = rest.reduce((a, b) => a * b, 1);
    const step = Math.max(1, Math.floor(CHUNK_ELEMENTS / cols));
    for (let start = 0; start < rows!; start += step) {
      const count = Math.min(step, rows! - start);
      const values = await this.checkpoint.rows(source, start, count);
      checkFinite(values, source, start, cols);
      this.onProgress({ tensor: source, bytes: (this.checkpoint.tensorBytes(source) * count) / rows! });
      yield { values, rows: count };
    }
  }

  private rowCount(sources: string[]): { n: number; k: number } {
    const shapes = sources.map((s) => this.checkpoint.shape(s));
    const k = shapes[0]![1]!;
    if (shapes.some((s) => s[1] !== k)) throw new Error(`cannot stack ${sources.join(', ')}: different input sizes`);
    return { n: shapes.reduce((sum, s) => sum + s[0]!, 0), k };
  }

  /** The rows of `sources` stacked into one [N, K] fp32 initializer. */
  async float(name: string, sources: string[]): Promise<LinearWeights> {
    const { n, k } = this.rowCount(sources);
    this.data.begin();
    for (const source of sources) {
      for await (const { values } of this.chunks(source)) await this.data.write(bytesOf(values));
    }
    return { kind: 'float', weight: this.graph.external(`${name}.weight`, 'float32', [n, k], this.data.end()), n, k };
  }

  /** The rows of `sources` stacked and block-quantized for MatMulNBits. */
  async nbits(name: string, sources: string[], scheme: QuantScheme): Promise<LinearWeights> {
    const { n, k } = this.rowCount(sources);
    const nb = blocksPerRow(k, scheme.blockSize);
    const scales = new Float32Array(n * nb);
    const zpRow = zeroPointBytesPerRow(k, scheme);
    const zeroPoints = scheme.asymmetric ? new Uint8Array(n * zpRow) : undefined;
    let row = 0;
    this.data.begin();
    for (const source of sources) {
      for await (const { values, rows } of this.chunks(source)) {
        const q = quantizeRows(values, rows, k, scheme);
        await this.data.write(q.codes);
        scales.set(q.scales, row * nb);
        if (zeroPoints !== undefined) zeroPoints.set(q.zeroPoints!, row * zpRow);
        row += rows;
      }
    }
    const codes = this.graph.external(`${name}.codes`, 'uint8', [n, nb, bytesPerBlock(scheme)], this.data.end());
    const scaleType = scheme.scaleType ?? 'float32';
    const scalesName = this.graph.external(`${name}.scales`, scaleType, [n, nb], await this.data.tensor(encode(scales, scaleType)));
    const zp = zeroPoints === undefined
      ? {}
      : { zeroPoints: this.graph.external(`${name}.zero_points`, 'uint8', [n, zpRow], await this.data.tensor(zeroPoints)) };
    return { kind: 'nbits', codes, scales: scalesName, ...zp, n, k, scheme };
  }

  /** A 1-D tensor passed through `transform` (e.g. the 1 + w of Gemma's RMSNorm). */
  async vector(name: string, source: string, transform: (v: Float32Array) => Float32Array): Promise<string> {
    const [length] = this.checkpoint.shape(source);
    const raw = await this.checkpoint.rows(source, 0, length!);
    checkFinite(raw, source, 0, 1);
    const values = transform(raw);
    this.onProgress({ tensor: source, bytes: this.checkpoint.tensorBytes(source) });
    return this.graph.external(name, 'float32', [values.length], await this.data.tensor(bytesOf(values)));
  }

  /** A computed table (not from the checkpoint), such as the rotary caches, stored as `type`. */
  async table(name: string, dims: number[], values: Float32Array, type: FloatType = 'float32'): Promise<string> {
    return this.graph.external(name, type, dims, await this.data.tensor(encode(values, type)));
  }
}
