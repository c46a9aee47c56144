/** fp32 values (CPU graphs) or fp16 bit patterns (CUDA graphs): the cache only moves values, never reads them. */
export type KvElements = Float32Array | Uint16Array;
export type KvType = 'float32' | 'float16';

const allocate = (type: KvType, length: number): KvElements => (type === 'float16' ? new Uint16Array(length) : new Float32Array(length));

const MIN_STEP = 32;
const STEPS_PER_DOUBLING = 16;

/**
 * Positions a cache holding `length` of them is sized for: rounded up to a step of
 * max(32, the power of two at or below length / 16). The graph reads the padding as if it
 * were cached rows, and growing copies the whole cache into fresh arrays; for the measured
 * costs of both (docs/benchmarks-history.md, "The capacity step") the best step grows like the
 * square root of the length, which this one follows closely from 1k to 8k tokens. Never
 * 0: the graph needs at least one (padding) row, as a product over zero rows is left unset.
 */
export function capacityFor(length: number): number {
  if (length === 0) return MIN_STEP;
  const step = Math.max(MIN_STEP, 2 ** Math.floor(Math.log2(length / STEPS_PER_DOUBLING)));
  return Math.ceil(length / step) * step;
}

/**
 * One layer's cache in the graph's input layouts (docs/graph-contract.md): keys
 * [kv_heads, capacity, head_dim] and values transposed, [kv_heads, head_dim, capacity].
 * Row r of each head is position r; rows from `length` on are padding the graph masks.
 * Both arrays are fed whole, as zero-copy views: onnxruntime-node wraps inputs without
 * copying them, while it copies every output.
 */
export class LayerCache {
  private keyArray: KvElements;
  private valueArray: KvElements;
  private rows = 0;

  constructor(readonly heads: number, readonly headDim: number, readonly type: KvType, private size = capacityFor(0)) {
    this.keyArray = allocate(type, heads * size * headDim);
    this.valueArray = allocate(type, heads * size * headDim);
  }

  /** [heads, capacity, head_dim]; a new array after the capacity changes. */
  get keys(): KvElements {
    return this.keyArray;
  }

  /** [heads, head_dim, capacity]; a new array after the capacity changes. */
  get values(): KvElements {
    return this.valueArray;
  }

  get capacity(): number {
    return this.size;
  }

  get length(): number {
    return this.rows;
  }

  /** Re-lays both arrays out for `size` positions, keeping the first `length` ones. */
  private resize(size: number): void {
    const { heads, headDim: hd, rows } = this;
    const keys = allocate(this.type, heads * size * hd);
    const values = allocate(this.type, heads * size * hd);
    for (let h = 0; h < heads; h++) {
      keys.set(this.keyArray.subarray(h * this.size * hd, (h * this.size + rows) * hd), h * size * hd);
      for (let d = 0; d < hd; d++) {
        const from = (h * hd + d) * this.size;
        values.set(this.valueArray.subarray(from, from + rows), (h * hd + d) * size);
      }
    }
    [this.keyArray, this.valueArray, this.size] = [keys, values, size];
  }

  /** Appends new rows given position-major, [rows, heads · head_dim], as the graph returns them. */
  append(keys: KvElements, values: KvElements): void {
    const { heads, headDim: hd } = this;
    const stride = heads * hd;
    const added = keys.length / stride;
    if (this.rows + added > this.size) this.resize(capacityFor(this.rows + added));
    for (let r = 0; r < added; r++) {
      for (let h = 0; h < heads; h++) {
        const from = r * stride + h * hd;
        this.keyArray.set(keys.subarray(from, from + hd), (h * this.size + this.rows + r) * hd);
      }
    }
    for (let c = 0; c < stride; c++) {
      const to = c * this.size + this.rows;
      for (let r = 0; r < added; r++) this.valueArray[to + r] = values[r * stride + c]!;
    }
    this.rows += added;
  }

  /**
   * Forgets every position from `length` on. The arrays shrink only to half their size or
   * less, so that rolling back a few tokens and decoding them again does not regrow them.
   */
  truncate(length: number): void {
    this.rows = Math.min(this.rows, length);
    if (capacityFor(this.rows) <= this.size / 2) this.resize(capacityFor(this.rows));
  }
}

/** Every layer's cache; all layers hold the same positions, so they share one capacity. */
export class KvCache {
  readonly layers: LayerCache[];

  constructor(layers: number, heads: number, headDim: number, readonly type: KvType = 'float32') {
    this.layers = Array.from({ length: layers }, () => new LayerCache(heads, headDim, type));
  }

  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  get capacity(): number {
    return this.layers[0]?.capacity ?? 0;
  }

  append(layer: number, keys: KvElements, values: KvElements): void {
    this.layers[layer]!.append(keys, values);
  }

  truncate(length: number): void {
    for (const layer of this.layers) layer.truncate(length);
  }
}
