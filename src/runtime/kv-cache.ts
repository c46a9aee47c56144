/** fp32 values (CPU graphs) or fp16 bit patterns (CUDA graphs): the cache only moves rows, never reads them. */
export type KvElements = Float32Array | Uint16Array;
export type KvType = 'float32' | 'float16';

const allocate = (type: KvType, length: number): KvElements => (type === 'float16' ? new Uint16Array(length) : new Float32Array(length));

/**
 * One KV head's keys or values in one layer, owned by JS and fed to the graph as a
 * zero-copy view (onnxruntime-node wraps input arrays without copying, while it copies
 * every output). Rows are positions, each `width` = head_dim values, so the rows a
 * layer attends to are always one contiguous range.
 */
export class CacheRows {
  private data: KvElements;
  private count = 0;

  constructor(readonly width: number, readonly type: KvType = 'float32', initialRows = 256) {
    this.data = allocate(type, initialRows * width);
  }

  get rows(): number {
    return this.count;
  }

  /** Makes room for `rows` more rows, growing by doubling (untouched pages cost no memory). */
  private reserve(rows: number): void {
    const needed = (this.count + rows) * this.width;
    if (needed <= this.data.length) return;
    const grown = allocate(this.type, Math.max(needed, this.data.length * 2));
    grown.set(this.data.subarray(0, this.count * this.width));
    this.data = grown;
  }

  /** Appends `rows` rows taken from `source`, row r starting at offset + r · stride. */
  appendStrided(source: KvElements, rows: number, stride: number, offset: number): void {
    this.reserve(rows);
    for (let r = 0; r < rows; r++) {
      const from = offset + r * stride;
      this.data.set(source.subarray(from, from + this.width), (this.count + r) * this.width);
    }
    this.count += rows;
  }

  append(values: KvElements): void {
    this.appendStrided(values, values.length / this.width, this.width, 0);
  }

  /** The last `rows` rows (or all of them), without copying. */
  tail(rows: number): KvElements {
    const from = Math.max(0, this.count - rows);
    return this.data.subarray(from * this.width, this.count * this.width);
  }

  /** Forgets everything after the first `rows` rows. */
  truncate(rows: number): void {
    this.count = Math.min(this.count, rows);
  }
}

/** Keys and values of every layer and KV head: `keys[layer][head]`. */
export class KvCache {
  readonly keys: CacheRows[][];
  readonly values: CacheRows[][];

  constructor(layers: number, private readonly heads: number, private readonly headDim: number, readonly type: KvType = 'float32') {
    const make = (): CacheRows[][] => Array.from({ length: layers }, () => Array.from({ length: heads }, () => new CacheRows(headDim, type)));
    this.keys = make();
    this.values = make();
  }

  get length(): number {
    return this.keys[0]?.[0]?.rows ?? 0;
  }

  /** Appends a layer's new rows, given position-major as [rows, heads · head_dim]. */
  append(layer: number, keys: KvElements, values: KvElements): void {
    const stride = this.heads * this.headDim;
    const rows = keys.length / stride;
    for (let h = 0; h < this.heads; h++) {
      this.keys[layer]![h]!.appendStrided(keys, rows, stride, h * this.headDim);
      this.values[layer]![h]!.appendStrided(values, rows, stride, h * this.headDim);
    }
  }

  truncate(rows: number): void {
    for (const c of [...this.keys.flat(), ...this.values.flat()]) c.truncate(rows);
  }
}
