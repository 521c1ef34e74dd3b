/**
 * The CSR arrays of a BlockMask as they are built: tile entries appended a run at a time, bit tiles
 * numbered in order of first use, and the rows of a head-periodic mask replicated over every head.
 */
import { ID_EMPTY, ID_FULL } from '../patterns/node.js';
import { MAX_MASK_SEQ, MAX_MASK_TILES, tooManyTiles } from './limits.js';

/**
 * Tile entries in order: key block and bit-tile index (−1 for full tiles), in growable typed
 * arrays filled a run at a time with native copies. Bit tiles are numbered in order of first use.
 */
export class Entries {
  cols = new Int32Array(1024);
  partial = new Int32Array(1024);
  length = 0;
  /** store tile id → output bit-tile index + 1 (0: not used yet) */
  private tileOf = new Int32Array(64);
  /** store tile ids in output order */
  readonly used: number[] = [];
  /** 0, 1, 2, …: the source of key-block runs */
  private iota = new Int32Array(0);

  /** the output index of store tile `id` (≥ 1): −1 for full */
  index(id: number): number {
    if (id === ID_FULL) return -1;
    if (id >= this.tileOf.length) {
      const grown = new Int32Array(Math.max(2 * this.tileOf.length, id + 1));
      grown.set(this.tileOf);
      this.tileOf = grown;
    }
    let t = this.tileOf[id] - 1;
    if (t < 0) {
      t = this.used.length;
      this.used.push(id);
      this.tileOf[id] = t + 1;
    }
    return t;
  }

  private reserve(extra: number, kbEnd: number): void {
    const need = this.length + extra;
    if (need > MAX_MASK_TILES) throw tooManyTiles();
    if (need > this.cols.length) {
      let cap = this.cols.length * 2;
      while (cap < need) cap *= 2;
      cap = Math.min(cap, MAX_MASK_TILES);
      const c = new Int32Array(cap);
      c.set(this.cols.subarray(0, this.length));
      this.cols = c;
      const d = new Int32Array(cap);
      d.set(this.partial.subarray(0, this.length));
      this.partial = d;
    }
    if (kbEnd > this.iota.length) {
      const len = Math.min(Math.max(kbEnd, 2 * this.iota.length), MAX_MASK_SEQ);
      this.iota = new Int32Array(len);
      for (let k = 0; k < len; k++) this.iota[k] = k;
    }
  }

  /** appends key blocks [kb0, kb1), all with the tile of store id `id` (0: nothing) */
  add(kb0: number, kb1: number, id: number): void {
    if (id === ID_EMPTY) return;
    const t = this.index(id);
    const n = this.length;
    if (kb1 - kb0 === 1) {
      this.reserve(1, 0);
      this.cols[n] = kb0;
      this.partial[n] = t;
      this.length = n + 1;
      return;
    }
    this.reserve(kb1 - kb0, kb1);
    this.cols.set(this.iota.subarray(kb0, kb1), n);
    this.partial.fill(t, n, n + kb1 - kb0);
    this.length = n + kb1 - kb0;
  }

  /** appends key blocks [kb0, kb1) where block kb has the tile of store id win[(kb − kb0) mod P] */
  addPeriodic(kb0: number, kb1: number, win: Int32Array, P: number): void {
    let empty = false;
    const ts = new Int32Array(P);
    for (let i = 0; i < P; i++) {
      if (win[i] === ID_EMPTY) empty = true;
      else ts[i] = this.index(win[i]);
    }
    this.reserve(kb1 - kb0, kb1);
    let n = this.length;
    if (empty) {
      const cols = this.cols;
      const partial = this.partial;
      for (let kb = kb0, i = 0; kb < kb1; kb++, i = i + 1 === P ? 0 : i + 1) {
        if (win[i] === ID_EMPTY) continue;
        cols[n] = kb;
        partial[n++] = ts[i];
      }
      this.length = n;
      return;
    }
    const len = kb1 - kb0;
    this.cols.set(this.iota.subarray(kb0, kb1), n);
    // repeat the period by doubling copies
    const partial = this.partial;
    partial.set(len < P ? ts.subarray(0, len) : ts, n);
    for (let have = Math.min(P, len); have < len; have *= 2) partial.copyWithin(n + have, n, n + Math.min(have, len - have));
    this.length = n + len;
  }
}

