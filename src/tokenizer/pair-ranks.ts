/** Merge ranks by token pair: an open-addressing hash over two int32 keys, built in one pass. */
export class PairRanks {
  private readonly mask: number;
  private readonly slots: Int32Array;

  constructor(private readonly left: Int32Array, private readonly right: Int32Array) {
    let size = 1;
    while (size < 2 * left.length) size *= 2;
    this.mask = size - 1;
    this.slots = new Int32Array(size).fill(-1);
    // A pair listed twice keeps its last rank, as Hugging Face's tokenizers build their table.
    for (let rank = 0; rank < left.length; rank++) this.slots[this.find(left[rank]!, right[rank]!)] = rank;
  }

  private find(l: number, r: number): number {
    let slot = (Math.imul(l, 0x9e3779b1) ^ Math.imul(r, 0x85ebca6b)) & this.mask;
    for (;;) {
      const rank = this.slots[slot]!;
      if (rank < 0 || (this.left[rank] === l && this.right[rank] === r)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  /** The rank of merging l then r, or -1 if they do not merge. */
  rank(l: number, r: number): number {
    return this.slots[this.find(l, r)]!;
  }
}
