/**
 * One layer's keys or values, owned by JS and fed to the graph as zero-copy views
 * (onnxruntime-node wraps input arrays without copying, while it copies every output).
 * Rows are positions, each `width` = kv_heads · head_dim floats.
 */
export class CacheRows {
  private data: Float32Array;
  private count = 0;

  constructor(readonly width: number, initialRows = 256) {
    this.data = new Float32Array(initialRows * width);
  }

  get rows(): number {
    return this.count;
  }

  /** Appends rows, growing by doubling (untouched pages cost no memory). */
  append(values: Float32Array): void {
    const needed = this.count * this.width + values.length;
    if (needed > this.data.length) {
      const grown = new Float32Array(Math.max(needed, this.data.length * 2));
      grown.set(this.data.subarray(0, this.count * this.width));
      this.data = grown;
    }
    this.data.set(values, this.count * this.width);
    this.count += values.length / this.width;
  }

  /** The last `rows` rows (or all of them), without copying. */
  tail(rows: number): Float32Array {
    const from = Math.max(0, this.count - rows);
    return this.data.subarray(from * this.width, this.count * this.width);
  }

  /** Forgets everything after the first `rows` rows. */
  truncate(rows: number): void {
    this.count = Math.min(this.count, rows);
  }
}

/** Keys and values of every layer. */
export class KvCache {
  readonly keys: CacheRows[];
  readonly values: CacheRows[];

  constructor(layers: number, width: number) {
    this.keys = Array.from({ length: layers }, () => new CacheRows(width));
    this.values = Array.from({ length: layers }, () => new CacheRows(width));
  }

  get length(): number {
    return this.keys[0]?.rows ?? 0;
  }

  truncate(rows: number): void {
    for (const c of [...this.keys, ...this.values]) c.truncate(rows);
  }
}
