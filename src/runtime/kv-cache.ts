import type { ModelSpec } from '../checkpoint/config.js';
import type { Manifest } from '../export/manifest.js';

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

/**
 * How sliding layers keep their cache with the `ops` attention kernel: only the last `rows`
 * positions, in arrays of at most `rows` rows, position q at row q mod capacity. They attend
 * to `window` keys including the current one, so `window` − 1 cached positions are all a run
 * needs; the rest of `rows` lets a rollback of up to rows − window + 1 positions stay exact.
 */
export interface SlidingRing {
  rows: number;
  window: number;
}

/**
 * The ring of `attention`'s sliding layers: the window plus one prompt chunk (llama.cpp sizes
 * its sliding-window cache the same way, window + batch), so a rollback of one chunk (`gemma
 * bench`'s prompt at a depth, an answer regenerated) stays exact. GroupQueryAttention reads its
 * past as positions 0 … p0 − 1, so `gqa` layers keep every position.
 */
export function slidingRing(slidingWindow: number, attention: 'ops' | 'gqa', prefillChunk: number): SlidingRing | undefined {
  return attention === 'ops' ? { rows: slidingWindow + prefillChunk, window: slidingWindow } : undefined;
}

/**
 * Whether cutting a cache of `total` positions back to `length` leaves its ring layers exact:
 * a ring that never wrapped holds every position; a wrapped one must still hold the window − 1
 * positions before `length`, and its rows of positions from `length` on (stale) then map to
 * positions outside every later query's window.
 */
export const ringKeeps = (ring: SlidingRing | undefined, total: number, length: number): boolean =>
  ring === undefined || total <= ring.rows || total - length <= ring.rows - ring.window + 1;

/** The cache holds the graph's compute type (fp16 in CUDA graphs, fp32 in CPU ones), in its attention kernel's layout. */
export const kvLayoutOf = (manifest: Manifest): KvLayout => ({ type: manifest.ep === 'cuda' ? 'float16' : 'float32', transposedValues: manifest.weights.attention === 'ops' });

/** How an export's caches are kept: the layout, and the ring of its sliding layers, if it has any and they keep one. */
export interface CachePlan {
  layout: KvLayout;
  ring: SlidingRing | undefined;
}

export const cachePlanOf = (manifest: Manifest, spec: ModelSpec, prefillChunk: number): CachePlan => ({
  layout: kvLayoutOf(manifest),
  ring: spec.isSliding.includes(true) ? slidingRing(spec.config.sliding_window, manifest.weights.attention, prefillChunk) : undefined,
});

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
 * With a `limit` (a sliding layer's ring), the arrays stop growing at `limit` rows and
 * position q goes to row q mod capacity, overwriting the oldest.
 * Both arrays are fed whole, as zero-copy views: onnxruntime-node wraps inputs without
 * copying them, while it copies every output.
 */
export class LayerCache {
  private keyArray: KvElements;
  private valueArray: KvElements;
  private rows = 0;
  /** Some position at or past the capacity was written: rows no longer equal positions. */
  private wrapped = false;

  constructor(readonly heads: number, readonly headDim: number, readonly layout: KvLayout, readonly limit = Infinity, private size = Math.min(capacityFor(0), limit)) {
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

  /** Re-lays both arrays out for `size` positions, keeping the first `length` ones (never called on a wrapped ring). */
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
    const needed = this.rows + added;
    if (needed > this.size && this.size < this.limit) this.resize(Math.min(capacityFor(needed), this.limit));
    this.appendRows(this.keyArray, keys, added);
    if (this.layout.transposedValues) this.appendColumns(values, added);
    else this.appendRows(this.valueArray, values, added);
    this.rows = needed;
    if (needed > this.size) this.wrapped = true;
  }

  /** The row of position `position`: itself, or in a ring its remainder. */
  private rowOf(position: number): number {
    return position % this.size;
  }

  private appendRows(to: KvElements, rows: KvElements, added: number): void {
    const { heads, headDim: hd } = this;
    for (let r = 0; r < added; r++) {
      const row = this.rowOf(this.rows + r);
      for (let h = 0; h < heads; h++) {
        const from = (r * heads + h) * hd;
        to.set(rows.subarray(from, from + hd), (h * this.size + row) * hd);
      }
    }
  }

  private appendColumns(rows: KvElements, added: number): void {
    const stride = this.heads * this.headDim;
    for (let c = 0; c < stride; c++) {
      const column = c * this.size;
      let row = this.rowOf(this.rows);
      for (let r = 0; r < added; r++) {
        this.valueArray[column + row] = rows[r * stride + c]!;
        if (++row === this.size) row = 0;
      }
    }
  }

  /**
   * Forgets every position from `length` on. The arrays shrink only to half their size or
   * less, so that rolling back a few tokens and decoding them again does not regrow them; a
   * wrapped ring keeps its arrays until it is emptied (whether it stays exact is `ringKeeps`'s
   * question, answered by the engine, which holds the tokens to run again).
   */
  truncate(length: number): void {
    this.rows = Math.min(this.rows, length);
    if (this.rows === 0) this.wrapped = false;
    if (!this.wrapped && capacityFor(this.rows) <= this.size / 2) this.resize(capacityFor(this.rows));
  }
}

/**
 * Every layer's cache; all layers hold the same positions, and layers of a kind share one
 * capacity: `limits[i]` is layer i's ring size, Infinity where it keeps every position.
 */
export class KvCache {
  readonly layers: LayerCache[];

  constructor(limits: number[], heads: number, headDim: number, readonly layout: KvLayout) {
    this.layers = limits.map((limit) => new LayerCache(heads, headDim, layout, limit));
  }

  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  append(layer: number, keys: KvElements, values: KvElements): void {
    this.layers[layer]!.append(keys, values);
  }

  truncate(length: number): void {
    for (const layer of this.layers) layer.truncate(length);
  }
}
