/** fp32 values (CPU graphs) or fp16 bit patterns (CUDA graphs): the cache only moves values, never reads them. */
export type KvElements = Float32Array | Uint16Array;
export type KvType = 'float32' | 'float16';

/**
 * How a cache is kept: its element type, and whether values are transposed, [kv_heads,
 * head_dim, capacity] (the ops attention kernel streams them so), or laid out like keys,
 * [kv_heads, capacity, head_dim] (GroupQueryAttention's layout).
 */
export interface KvLayout {
  type: KvType;
  transposedValues: boolean;
}

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
 * [kv_heads, capacity, head_dim] and values as `layout` says.
 * Row r of each head is position r; rows from `length` on are padding the graph masks.
 * Both arrays are fed whole, as zero-copy views: onnxruntime-node wraps inputs without
 * copying them, while it copies every output.
 */
export class LayerCache {
  private keyArray: KvElements;
  private valueArray: KvElements;
  private rows = 0;

  constructor(readonly heads: number, readonly headDim: number, readonly layout: KvLayout, private size = capacityFor(0)) {
    this.keyArray = allocate(layout.type, heads * size * headDim);
    this.valueArray = allocate(layout.type, heads * size * headDim);
  }

  /** [heads, capacity, head_dim]; a new array after the capacity changes. */
  get keys(): KvElements {
    return this.keyArray;
  }

  /** [heads, head_dim, capacity] or [heads, capacity, head_dim] (the layout's); a new array after the capacity changes. */
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
    const keys = allocate(this.layout.type, this.heads * size * this.headDim);
    const values = allocate(this.layout.type, this.heads * size * this.headDim);
    this.copyRows(this.keyArray, keys, size);
    if (this.layout.transposedValues) this.copyColumns(this.valueArray, values, size);
    else this.copyRows(this.valueArray, values, size);
    [this.keyArray, this.valueArray, this.size] = [keys, values, size];
  }

  /** Each head's first `length` rows of [heads, capacity, head_dim] into an array of capacity `size`. */
  private copyRows(from: KvElements, to: KvElements, size: number): void {
    const { heads, headDim: hd, rows } = this;
    for (let h = 0; h < heads; h++) to.set(from.subarray(h * this.size * hd, (h * this.size + rows) * hd), h * size * hd);
  }

  /** The same for [heads, head_dim, capacity]: each (head, dimension)'s first `length` entries. */
  private copyColumns(from: KvElements, to: KvElements, size: number): void {
    const { heads, headDim: hd, rows } = this;
    for (let c = 0; c < heads * hd; c++) to.set(from.subarray(c * this.size, c * this.size + rows), c * size);
  }

  /** Appends new rows given position-major, [rows, heads · head_dim], as the graph returns them. */
  append(keys: KvElements, values: KvElements): void {
    const stride = this.heads * this.headDim;
    const added = keys.length / stride;
    if (this.rows + added > this.size) this.resize(capacityFor(this.rows + added));
    this.appendRows(this.keyArray, keys, added);
    if (this.layout.transposedValues) this.appendColumns(values, added);
    else this.appendRows(this.valueArray, values, added);
    this.rows += added;
  }

  private appendRows(to: KvElements, rows: KvElements, added: number): void {
    const { heads, headDim: hd } = this;
    for (let r = 0; r < added; r++) {
      for (let h = 0; h < heads; h++) {
        const from = (r * heads + h) * hd;
        to.set(rows.subarray(from, from + hd), (h * this.size + this.rows + r) * hd);
      }
    }
  }

  private appendColumns(rows: KvElements, added: number): void {
    const stride = this.heads * this.headDim;
    for (let c = 0; c < stride; c++) {
      const to = c * this.size + this.rows;
      for (let r = 0; r < added; r++) this.valueArray[to + r] = rows[r * stride + c]!;
    }
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

  constructor(layers: number, heads: number, headDim: number, readonly layout: KvLayout) {
    this.layers = Array.from({ length: layers }, () => new LayerCache(heads, headDim, layout));
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
