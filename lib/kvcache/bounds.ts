/**
 * Per-block key bounds of a KVCache for option `select` (Quest): for each batch element, kv head
 * and block of `blockSize` slots, the per-channel minimum and maximum of the stored (rotated) keys,
 * the number of keys held and their smallest and largest positions. Kept up to date as keys come
 * and go: a stored key widens its block's bounds (O(headDim) per batch element); an evicted key
 * only marks its block stale, and a stale block is recomputed from its slots the next time a
 * selection reads the bounds (O(blockSize · headDim) per batch element, once per stale block). The
 * bounds are built on the first `select` call and maintained from then on.
 */
import { elementReader } from '../dtypes.js';
import type { KeyBlockBounds } from '../select/quest.js';
import type { SlotStore } from './store.js';

export class CacheBounds {
  numBlocks = 0;
  private min = new Float32Array(0);
  private max = new Float32Array(0);
  private count = new Int32Array(0);
  private minPos = new Float64Array(0);
  private maxPos = new Float64Array(0);
  /** [kvHeads][numBlocks] 1: recompute before use */
  private stale = new Uint8Array(0);
  private read: (i: number) => number;
  private data: Float32Array | Uint16Array;

  constructor(
    private readonly store: SlotStore,
    readonly blockSize: number,
  ) {
    this.data = store.k;
    this.read = elementReader(store.k, store.dtype);
    this.resize();
  }

  /** (Re)allocates for the store's capacity; every block becomes stale. */
  resize(): void {
    const { batch: B, kvHeads: H, headDim: D, capacity } = this.store;
    this.numBlocks = Math.ceil(capacity / this.blockSize);
    const nb = this.numBlocks;
    this.min = new Float32Array(B * H * nb * D);
    this.max = new Float32Array(B * H * nb * D);
    this.count = new Int32Array(H * nb);
    this.minPos = new Float64Array(H * nb);
    this.maxPos = new Float64Array(H * nb);
    this.stale = new Uint8Array(H * nb).fill(1);
    this.data = this.store.k;
    this.read = elementReader(this.store.k, this.store.dtype);
  }

  get bytes(): number {
    return this.min.byteLength + this.max.byteLength + this.count.byteLength + this.minPos.byteLength + this.maxPos.byteLength + this.stale.byteLength;
  }

  /** A key was stored in slot s of kv head h. */
  onStore(h: number, s: number): void {
    if (this.data !== this.store.k) this.resize();
    const kb = Math.floor(s / this.blockSize);
    const at = h * this.numBlocks + kb;
    if (this.stale[at]) return; // recomputed from the slots anyway
    const p = this.store.pos[h * this.store.capacity + s];
    this.count[at]++;
    if (p < this.minPos[at]) this.minPos[at] = p;
    if (p > this.maxPos[at]) this.maxPos[at] = p;
    for (let b = 0; b < this.store.batch; b++) this.widen(b, h, kb, this.store.offset(b, h, s));
  }

  /** The key in slot s of kv head h was evicted. */
  onRelease(h: number, s: number): void {
    this.stale[h * this.numBlocks + Math.floor(s / this.blockSize)] = 1;
  }

  private widen(b: number, h: number, kb: number, src: number): void {
    const D = this.store.headDim;
    const o = ((b * this.store.kvHeads + h) * this.numBlocks + kb) * D;
    const { min, max, read } = this;
    for (let d = 0; d < D; d++) {
      const x = read(src + d);
      // a NaN key widens the block to ±∞: its bound is then +∞ and it ranks first
      if (!(x >= min[o + d])) min[o + d] = Number.isNaN(x) ? -Infinity : x;
      if (!(x <= max[o + d])) max[o + d] = Number.isNaN(x) ? Infinity : x;
    }
  }

  private recompute(h: number, kb: number): void {
    const { batch: B, kvHeads: H, headDim: D, capacity } = this.store;
    const at = h * this.numBlocks + kb;
    for (let b = 0; b < B; b++) {
      const o = ((b * H + h) * this.numBlocks + kb) * D;
      this.min.fill(Infinity, o, o + D);
      this.max.fill(-Infinity, o, o + D);
    }
    this.count[at] = 0;
    this.minPos[at] = Infinity;
    this.maxPos[at] = -Infinity;
    const s1 = Math.min((kb + 1) * this.blockSize, capacity);
    for (let s = kb * this.blockSize; s < s1; s++) {
      const p = this.store.pos[h * capacity + s];
      if (p < 0) continue;
      this.count[at]++;
      if (p < this.minPos[at]) this.minPos[at] = p;
      if (p > this.maxPos[at]) this.maxPos[at] = p;
      for (let b = 0; b < B; b++) this.widen(b, h, kb, this.store.offset(b, h, s));
    }
    this.stale[at] = 0;
  }

  /** The bounds, every stale block recomputed first. */
  current(): KeyBlockBounds {
    if (this.data !== this.store.k) this.resize();
    const H = this.store.kvHeads;
    for (let h = 0; h < H; h++) for (let kb = 0; kb < this.numBlocks; kb++) if (this.stale[h * this.numBlocks + kb]) this.recompute(h, kb);
    return {
      blockSize: this.blockSize,
      numBlocks: this.numBlocks,
      headDim: this.store.headDim,
      min: this.min,
      max: this.max,
      count: this.count,
      minPos: this.minPos,
      maxPos: this.maxPos,
    };
  }
}
