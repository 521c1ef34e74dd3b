/**
 * The storage of a KVCache: K and V as [batch, kvHeads, capacity, headDim] arrays of slots (the
 * layout the kernels read in place) and the true position held by each slot of each kv head (−1:
 * free). The capacity (budget + room for one call's keys) is allocated up front and grows (one copy)
 * only when a call brings more keys than there is room for. Two ways to manage slots:
 *
 *  - a stack of free slots per kv head (window, streaming): appending takes a free slot, evicting
 *    frees one and nothing moves. Freed slots are reused first (last in, first out); as these
 *    policies evict in arrival order, the kept keys stay in whole blocks of slots and the kernels
 *    visit few partly empty tiles.
 *  - compact (h2o, adaptive, which evict anywhere): the kept keys of a head fill slots
 *    [0, kept); evicting slot s moves the key of the last slot into s (one row of K and V per batch
 *    element) — never more — so every tile but the last is full and runs unmasked.
 */
import type { DType } from '../dtypes.js';
import { HostRows, rowOffset, type SlotRows } from './rows.js';

export class SlotStore {
  capacity: number;
  /** where K and V live (host arrays, or device buffers) */
  readonly rows: SlotRows;
  /** [kvHeads][capacity] position of each slot, −1 when free */
  pos: Int32Array;
  /** [kvHeads][capacity] stacks of free slots; the top of head h's stack is at freeTop[h] − 1 */
  private free: Int32Array;
  private readonly freeTop: Int32Array;
  /** keys held per kv head */
  readonly kept: Int32Array;

  /** compact mode: called after the key of slot `from` moved to slot `to` of kv head h */
  onMove: ((h: number, from: number, to: number) => void) | null = null;

  constructor(
    readonly batch: number,
    readonly kvHeads: number,
    readonly headDim: number,
    readonly dtype: DType,
    capacity: number,
    readonly compact: boolean,
    rows?: (capacity: number) => SlotRows,
  ) {
    this.capacity = capacity;
    this.rows = rows ? rows(capacity) : new HostRows(this, capacity);
    this.pos = new Int32Array(kvHeads * capacity).fill(-1);
    this.free = new Int32Array(kvHeads * capacity);
    this.freeTop = new Int32Array(kvHeads);
    this.kept = new Int32Array(kvHeads);
    for (let h = 0; h < kvHeads; h++) this.resetFree(h);
  }

  /** The keys on the host (see SlotRows.hostK). */
  get k(): Float32Array | Uint16Array {
    return this.rows.hostK;
  }

  /** Rebuilds head h's free stack from `pos`, lowest slot on top. */
  private resetFree(h: number): void {
    const cap = this.capacity;
    let top = 0;
    for (let s = cap - 1; s >= 0; s--) if (this.pos[h * cap + s] < 0) this.free[h * cap + top++] = s;
    this.freeTop[h] = top;
  }

  /** free slots of kv head h */
  room(h: number): number {
    return this.compact ? this.capacity - this.kept[h] : this.freeTop[h];
  }

  /** Takes a free slot of kv head h for a key at `position`. */
  take(h: number, position: number): number {
    if (this.compact) {
      const s = this.kept[h]++;
      if (s >= this.capacity) throw new Error('KVCache: no free slot (internal error)');
      this.pos[h * this.capacity + s] = position;
      return s;
    }
    const top = --this.freeTop[h];
    if (top < 0) throw new Error('KVCache: no free slot (internal error)');
    const s = this.free[h * this.capacity + top];
    this.pos[h * this.capacity + s] = position;
    this.kept[h]++;
    return s;
  }

  /**
   * Frees slot s of kv head h. Compact mode moves the last kept key into s: when freeing several
   * slots, free them in descending order (then no slot still to be freed moves).
   */
  release(h: number, s: number): void {
    if (this.compact) {
      const cap = this.capacity;
      const last = --this.kept[h];
      if (s !== last) {
        this.rows.move(h, last, s, cap);
        this.pos[h * cap + s] = this.pos[h * cap + last];
        this.onMove?.(h, last, s);
      }
      this.pos[h * cap + last] = -1;
      return;
    }
    this.pos[h * this.capacity + s] = -1;
    this.free[h * this.capacity + this.freeTop[h]++] = s;
    this.kept[h]--;
  }

  /** Element offset of (b, h, slot) in k and v. */
  offset(b: number, h: number, s: number): number {
    return rowOffset(this, this.capacity, b, h, s);
  }

  /** Grows the capacity to at least `needed` slots per head (one copy of everything held). */
  grow(needed: number): void {
    const old = this.capacity;
    if (needed <= old) return;
    const cap = Math.max(needed, Math.ceil(old * 1.5));
    const H = this.kvHeads;
    this.rows.grow(old, cap);
    const pos = new Int32Array(H * cap).fill(-1);
    for (let h = 0; h < H; h++) pos.set(this.pos.subarray(h * old, (h + 1) * old), h * cap);
    this.pos = pos;
    this.capacity = cap;
    this.free = new Int32Array(H * cap);
    for (let h = 0; h < H; h++) this.resetFree(h);
  }

  /** Bytes of host memory: K and V (or their host mirror) and the slot tables. */
  get bytes(): number {
    return this.rows.hostBytes + this.pos.byteLength + this.free.byteLength;
  }
}
