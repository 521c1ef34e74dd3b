/**
 * Reading a compiled BlockMask back row by row, as sorted lists of key intervals. This is how the
 * analysis and the SVG renderer see a pattern at long sequence lengths: full tiles contribute whole
 * intervals arithmetically, partial tiles are scanned a 32-bit word at a time, so a row costs
 * O(tiles in its query block + words in its partial tiles), never O(seqK).
 */
import type { BlockMask } from '../mask/blockmask.js';

/** A growable list of sorted, disjoint, non-adjacent half-open intervals [lo, hi). */
export class IntervalBuffer {
  lo: Int32Array;
  hi: Int32Array;
  n = 0;

  constructor(capacity = 16) {
    this.lo = new Int32Array(capacity);
    this.hi = new Int32Array(capacity);
  }

  clear(): void {
    this.n = 0;
  }

  /** Appends [a, b) (a ≥ every earlier hi), merging it with the previous interval when adjacent. */
  push(a: number, b: number): void {
    if (b <= a) return;
    const n = this.n;
    if (n > 0 && this.hi[n - 1] === a) {
      this.hi[n - 1] = b;
      return;
    }
    if (n === this.lo.length) {
      const lo = new Int32Array(n * 2);
      const hi = new Int32Array(n * 2);
      lo.set(this.lo);
      hi.set(this.hi);
      this.lo = lo;
      this.hi = hi;
    }
    this.lo[n] = a;
    this.hi[n] = b;
    this.n = n + 1;
  }

  /** Total number of elements covered. */
  size(): number {
    let s = 0;
    for (let k = 0; k < this.n; k++) s += this.hi[k] - this.lo[k];
    return s;
  }
}

/** Index of the lowest set bit of a non-zero 32-bit value. */
function ctz(v: number): number {
  return 31 - Math.clz32(v & -v);
}

/**
 * Appends the runs of set bits of `words` words starting at bits[off] to `out`; bit b of word w is
 * column base + 32·w + b. Columns at or past `limit` are ignored.
 */
export function scanBitRuns(
  bits: Uint32Array,
  off: number,
  words: number,
  base: number,
  limit: number,
  out: IntervalBuffer,
): void {
  let runStart = -1;
  for (let w = 0; w < words; w++) {
    const x = bits[off + w];
    const c0 = base + (w << 5);
    if (x === 0) {
      if (runStart >= 0) {
        out.push(runStart, Math.min(c0, limit));
        runStart = -1;
      }
      continue;
    }
    if (x === 0xffffffff) {
      if (runStart < 0) runStart = c0;
      continue;
    }
    let pos = 0;
    while (pos < 32) {
      if (runStart >= 0) {
        const z = ~x >>> pos; // the zero bits of x at or after pos, as ones
        if (z === 0) break; // the run goes on into the next word
        const k = ctz(z);
        out.push(runStart, Math.min(c0 + pos + k, limit));
        runStart = -1;
        pos += k;
      } else {
        const o = x >>> pos;
        if (o === 0) break;
        const k = ctz(o);
        runStart = c0 + pos + k;
        if (runStart >= limit) return;
        pos += k;
      }
    }
  }
  if (runStart >= 0) out.push(runStart, Math.min(base + words * 32, limit));
}

/**
 * Row-by-row reader of one head of a BlockMask. Rows are query indices i ∈ [0, seqQ), columns key
 * indices j ∈ [0, seqK), exactly as in the mask.
 */
export class MaskRows {
  readonly seqQ: number;
  readonly seqK: number;
  private readonly mask: BlockMask;
  /** per query block: its items are segPtr[qb] .. segPtr[qb+1] */
  private readonly segPtr: Int32Array;
  /** item: key columns [segA, segB); segT = −1 for a run of full tiles, else the bit-tile index */
  private readonly segA: Int32Array;
  private readonly segB: Int32Array;
  private readonly segT: Int32Array;
  /** elements evaluated in visited tiles of this head, counting only in-bounds ones */
  readonly computedElements: number;
  /** number of visited tiles of this head */
  readonly visitedTiles: number;

  constructor(mask: BlockMask, head = 0) {
    this.mask = mask;
    this.seqQ = mask.seqQ;
    this.seqK = mask.seqK;
    const { numQBlocks, blockQ, blockK, seqQ, seqK, rowPtr, colIdx, partial } = mask;
    const h = mask.heads === 1 ? 0 : head % mask.heads;
    const r0 = h * numQBlocks;
    const first = rowPtr[r0];
    const total = rowPtr[r0 + numQBlocks] - first;
    this.segPtr = new Int32Array(numQBlocks + 1);
    this.segA = new Int32Array(total);
    this.segB = new Int32Array(total);
    this.segT = new Int32Array(total);
    let n = 0;
    let computed = 0;
    for (let qb = 0; qb < numQBlocks; qb++) {
      this.segPtr[qb] = n;
      const rows = Math.min(blockQ, seqQ - qb * blockQ);
      for (let e = rowPtr[r0 + qb]; e < rowPtr[r0 + qb + 1]; e++) {
        const kb = colIdx[e];
        const a = kb * blockK;
        const b = Math.min(a + blockK, seqK);
        computed += rows * (b - a);
        const t = partial[e];
        if (t < 0 && n > this.segPtr[qb] && this.segT[n - 1] < 0 && this.segB[n - 1] === a) {
          this.segB[n - 1] = b; // extend the run of full tiles
          continue;
        }
        this.segA[n] = a;
        this.segB[n] = b;
        this.segT[n] = t < 0 ? -1 : t;
        n++;
      }
    }
    this.segPtr[numQBlocks] = n;
    this.computedElements = computed;
    this.visitedTiles = total;
  }

  /** Replaces out's contents with row i's allowed key intervals; returns their count. */
  read(i: number, out: IntervalBuffer): number {
    out.clear();
    const { blockQ, wordsPerRow, bits } = this.mask;
    const qb = (i / blockQ) | 0;
    const rr = i - qb * blockQ;
    const end = this.segPtr[qb + 1];
    for (let s = this.segPtr[qb]; s < end; s++) {
      const t = this.segT[s];
      if (t < 0) out.push(this.segA[s], this.segB[s]);
      else scanBitRuns(bits, (t * blockQ + rr) * wordsPerRow, wordsPerRow, this.segA[s], this.segB[s], out);
    }
    return out.n;
  }
}
