/**
 * The bit tiles of one compile: pattern nodes compute a tile's content into `buf` (the TileCtx
 * they see), and the store interns it — tiles with the same content share one id (0 empty, 1 full,
 * t + 2 for stored tile t) — and combines stored tiles by OR / AND / AND-NOT, memoized.
 */
import { ID_EMPTY, ID_FULL, nextGen, type TileCtx } from '../patterns/node.js';

const MEMO_LIMIT = 2 ** 26;

/** Interned bit tiles of one compile; implements the context pattern nodes compute tiles in. */
export class TileStore implements TileCtx {
  readonly gen = nextGen();
  readonly wpr: number;
  readonly tileWords: number;
  readonly buf: Uint32Array;
  unclipped = true;
  until = Infinity;
  period: number;
  private rows = 0;
  private cols = -1;
  private readonly fullRow: Uint32Array;
  /** interned tiles: tile t (id t + 2) at words[t·tileWords …] */
  words: Uint32Array;
  count = 0;
  private chain: Int32Array;
  private readonly byHash = new Map<number, number>();
  private readonly orMemo = new Map<number, number>();
  private readonly andMemo = new Map<number, number>();
  private readonly andNotMemo = new Map<number, number>();

  constructor(
    readonly blockQ: number,
    readonly blockK: number,
  ) {
    this.wpr = Math.ceil(blockK / 32);
    this.tileWords = blockQ * this.wpr;
    this.buf = new Uint32Array(this.tileWords);
    this.fullRow = new Uint32Array(this.wpr);
    this.words = new Uint32Array(this.tileWords * 16);
    this.chain = new Int32Array(16);
    this.period = blockK;
  }

  /** Sets the shape of the tile about to be computed. */
  setTile(rows: number, cols: number): void {
    this.rows = rows;
    this.unclipped = rows === this.blockQ && cols === this.blockK;
    if (cols !== this.cols) {
      this.cols = cols;
      for (let w = 0; w < this.wpr; w++) {
        const c = cols - 32 * w;
        this.fullRow[w] = c >= 32 ? 0xffffffff : c <= 0 ? 0 : (0xffffffff >>> (32 - c)) >>> 0;
      }
    }
  }

  clear(): void {
    this.buf.fill(0);
  }

  intern(): number {
    const { buf, wpr, rows, fullRow, tileWords } = this;
    let any = 0;
    let full = true;
    let h = 0x811c9dc5;
    for (let r = 0, k = 0; r < rows; r++) {
      for (let w = 0; w < wpr; w++, k++) {
        const v = buf[k];
        if (v !== 0) {
          any = 1;
          h = Math.imul(h ^ v, 0x85ebca6b) ^ k;
          h ^= h >>> 13;
        }
        if (v !== fullRow[w]) full = false;
      }
    }
    if (any === 0) return ID_EMPTY;
    if (full) return ID_FULL;
    h >>>= 0;
    const words = this.words;
    const head = this.byHash.get(h);
    for (let t = head === undefined ? -1 : head; t >= 0; t = this.chain[t]) {
      const o = t * tileWords;
      let same = true;
      for (let k = 0; k < tileWords; k++) {
        if (words[o + k] !== buf[k]) {
          same = false;
          break;
        }
      }
      if (same) return t + 2;
    }
    const t = this.count++;
    if ((t + 1) * tileWords > this.words.length) {
      const grown = new Uint32Array(Math.max(this.words.length * 2, (t + 1) * tileWords));
      grown.set(this.words);
      this.words = grown;
    }
    if (t >= this.chain.length) {
      const grown = new Int32Array(this.chain.length * 2);
      grown.set(this.chain);
      this.chain = grown;
    }
    this.words.set(buf, t * tileWords);
    this.chain[t] = head === undefined ? -1 : head;
    this.byHash.set(h, t);
    return t + 2;
  }

  private combine(memo: Map<number, number>, key: number, op: 0 | 1 | 2, a: number, b: number): number {
    const useMemo = this.unclipped && a < MEMO_LIMIT && b < MEMO_LIMIT;
    if (useMemo) {
      const v = memo.get(key);
      if (v !== undefined) return v;
    }
    const { buf, tileWords, wpr, rows } = this;
    const words = this.words;
    const ob = (b - 2) * tileWords;
    if (op === 2 && a === ID_FULL) {
      buf.fill(0);
      for (let r = 0, k = 0; r < rows; r++) for (let w = 0; w < wpr; w++, k++) buf[k] = this.fullRow[w] & ~words[ob + k];
    } else {
      const oa = (a - 2) * tileWords;
      if (op === 0) for (let k = 0; k < tileWords; k++) buf[k] = words[oa + k] | words[ob + k];
      else if (op === 1) for (let k = 0; k < tileWords; k++) buf[k] = words[oa + k] & words[ob + k];
      else for (let k = 0; k < tileWords; k++) buf[k] = words[oa + k] & ~words[ob + k];
    }
    const id = this.intern();
    if (useMemo) memo.set(key, id);
    return id;
  }

  or(a: number, b: number): number {
    if (a === b) return a;
    if (a > b) [a, b] = [b, a];
    return this.combine(this.orMemo, a * MEMO_LIMIT + b, 0, a, b);
  }

  and(a: number, b: number): number {
    if (a === b) return a;
    if (a > b) [a, b] = [b, a];
    return this.combine(this.andMemo, a * MEMO_LIMIT + b, 1, a, b);
  }

  andNot(a: number, b: number): number {
    if (a === b) return ID_EMPTY;
    return this.combine(this.andNotMemo, a * MEMO_LIMIT + b, 2, a, b);
  }
}

