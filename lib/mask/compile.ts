/**
 * The mask compiler: Pattern → BlockMask (see blockmask.ts for the layout).
 *
 * For each (head, query block) row the compiler asks the pattern for its candidate key ranges and
 * visits only the key blocks they touch. Each visited tile is classified analytically in one walk
 * of the pattern tree (PatternNode.tile); only partial tiles get bit content, built row-wise by
 * the primitives (intervals and progressions, never element by element for built-in patterns),
 * memoized where a primitive's tile content depends on a few numbers only (p0 − j0 for patterns
 * of p − j, its residue deep inside strided patterns, j0 for column patterns, …), and combined by
 * bitwise OR / AND / AND-NOT of memoized tiles.
 *
 * Runs: the same walk also tells how far to the right its result provably stays the same
 * (TileCtx.until), possibly only every few tiles (TileCtx.period, e.g. strided(100) with 64-key
 * tiles repeats every 25 tiles). The compiler then copies the result (or the period of results)
 * over the run instead of walking again, so a row costs O(changes of behaviour) walks plus a
 * native copy per run, and O(tiles) only in its output.
 *
 * Bit tiles are interned: tiles with the same content share one bit tile (several entries of
 * `partial` may name the same index t). A partial tile whose content turns out to be all-set is
 * stored as full, one with no bit is dropped.
 *
 * Masks are cached (LRU, 64 entries and 256 MiB of arrays at most) by (pattern string, seqQ, seqK,
 * heads, blockQ, blockK) for built-in patterns; a cached BlockMask is shared (and frozen), so its arrays must not be
 * modified.
 */
import type { BlockMask } from './blockmask.js';
import type { Pattern } from '../patterns/pattern.js';
import { ID_EMPTY, ID_FULL, MAX_PERIOD_TILES, nextGen, type PatternNode, type TileCtx } from '../patterns/node.js';
import { toNode } from '../patterns/index.js';
import { describeValue } from '../describe.js';

export interface CompileOptions {
  /** number of query rows (positions are i + seqK − seqQ) */
  readonly seqQ: number;
  /** number of keys */
  readonly seqK: number;
  /**
   * Number of attention heads. Only used when the pattern differs between heads
   * (headPeriod > 1): the mask then has `heads` × numQBlocks rows (default: headPeriod heads), and
   * heads must be at most MAX_MASK_HEADS (65536). Patterns that are the same for every head give
   * one shared mask (heads = 1).
   */
  readonly heads?: number;
  /** query rows per tile */
  readonly blockQ: number;
  /** key columns per tile */
  readonly blockK: number;
}

const MEMO_LIMIT = 2 ** 26;

/**
 * Limits of compileMask (a RangeError naming the option past each; all but the last before any work):
 *  - seqQ, seqK ≤ MAX_MASK_SEQ: they are int32 in the native view of a BlockMask
 *    (BlockMaskView in native/include/attnflow.h), as are block indices;
 *  - blockQ, blockK ≤ MAX_MASK_BLOCK (the tile sides analyze, renderMask and the CLI accept), and a
 *    bit tile (blockQ rows of 32·wordsPerRow bits) of at most MAX_MASK_TILE_BITS bits: 2 MiB, e.g.
 *    4096×4096 — every kernel's tile is far smaller, and the compiler keeps several tiles in flight;
 *  - heads ≤ MAX_MASK_HEADS when the pattern differs between heads (the mask has a row of tiles
 *    per head and query block, and compiling costs time linear in heads);
 *  - at most MAX_MASK_TILES rows of tiles (heads × numQBlocks) and MAX_MASK_TILES visited tiles:
 *    rowPtr holds int32 offsets into colIdx / partial. The tile count is known only while
 *    compiling; past it compileMask stops with a RangeError before growing its arrays further.
 */
export const MAX_MASK_SEQ = 2 ** 31 - 1;
export const MAX_MASK_BLOCK = 65536;
export const MAX_MASK_TILE_BITS = 2 ** 24;
export const MAX_MASK_HEADS = 65536;
export const MAX_MASK_TILES = 2 ** 31 - 1;

function tooManyTiles(): RangeError {
  return new RangeError(
    `compileMask: the mask would hold more than ${MAX_MASK_TILES} tiles, more than its int32 rowPtr can index; ` +
      'use larger tiles (blockQ, blockK) or shorter sequences (seqQ, seqK)',
  );
}

/** Interned bit tiles of one compile; implements the context pattern nodes compute tiles in. */
class TileStore implements TileCtx {
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

/**
 * Tile entries in order: key block and bit-tile index (−1 for full tiles), in growable typed
 * arrays filled a run at a time with native copies. Bit tiles are numbered in order of first use.
 */
class Entries {
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

function checkPositive(name: string, v: unknown, max: number, optional = false): number | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number') {
    throw new TypeError(`compileMask: ${name} must be a positive integer, got ${describeValue(v)}`);
  }
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`compileMask: ${name} must be a positive integer, got ${describeValue(v)}`);
  }
  if (v > max) {
    throw new RangeError(`compileMask: ${name} must be a positive integer at most ${max}, got ${v}`);
  }
  return v;
}

/** at most this many masks … */
const CACHE_LIMIT = 64;
/** … holding at most this many bytes of arrays */
const CACHE_BYTES = 256 * 1024 * 1024;
const cache = new Map<string, BlockMask>();
let cacheBytes = 0;

function bytesOf(m: BlockMask): number {
  return m.rowPtr.byteLength + m.colIdx.byteLength + m.partial.byteLength + m.bits.byteLength;
}

/** Empties the compiled-mask cache. */
export function clearMaskCache(): void {
  cache.clear();
  cacheBytes = 0;
}

/**
 * Compiles a pattern (or pattern string) into the block-sparse layout every backend consumes.
 * Throws TypeError / RangeError naming the option when an option is not a positive integer.
 */
export function compileMask(pattern: Pattern | string, options: CompileOptions): BlockMask {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('compileMask: options { seqQ, seqK, blockQ, blockK, heads? } are required');
  }
  const seqQ = checkPositive('seqQ', options.seqQ, MAX_MASK_SEQ)!;
  const seqK = checkPositive('seqK', options.seqK, MAX_MASK_SEQ)!;
  const blockQ = checkPositive('blockQ', options.blockQ, MAX_MASK_BLOCK)!;
  const blockK = checkPositive('blockK', options.blockK, MAX_MASK_BLOCK)!;
  const headsOpt = checkPositive('heads', options.heads, Number.MAX_SAFE_INTEGER, true);
  const tileBits = blockQ * 32 * Math.ceil(blockK / 32);
  if (tileBits > MAX_MASK_TILE_BITS) {
    throw new RangeError(
      `compileMask: a bit tile of blockQ × blockK = ${blockQ} × ${blockK} (${tileBits} bits with rows padded to 32-bit words) ` +
        `is larger than the ${MAX_MASK_TILE_BITS} bits a tile may hold; use smaller blockQ / blockK`,
    );
  }
  const node = toNode(pattern, 'compileMask');
  const period = node.headPeriod;
  const heads = period > 1 ? (headsOpt ?? period) : 1;
  if (heads > MAX_MASK_HEADS) {
    throw new RangeError(
      headsOpt === undefined
        ? `compileMask: the pattern repeats over ${period} heads, more than the ${MAX_MASK_HEADS} heads a mask may have; give heads (at most ${MAX_MASK_HEADS})`
        : `compileMask: heads must be at most ${MAX_MASK_HEADS} for a pattern that differs between heads, got ${heads}`,
    );
  }
  const rows = heads * Math.ceil(seqQ / blockQ);
  if (rows >= MAX_MASK_TILES) {
    throw new RangeError(
      `compileMask: the mask would have ${rows} rows of tiles (heads × ceil(seqQ / blockQ) = ${heads} × ${Math.ceil(seqQ / blockQ)}), ` +
        `more than its int32 rowPtr can index (${MAX_MASK_TILES - 1}); use a larger blockQ or a shorter seqQ`,
    );
  }

  let key: string | null = null;
  if (node.cacheable) {
    key = `${node.toString()}\u0000${seqQ},${seqK},${heads},${blockQ},${blockK}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
  }
  const mask = build(node, seqQ, seqK, heads, Math.min(heads, period), blockQ, blockK);
  const bytes = bytesOf(mask);
  if (key !== null && bytes <= CACHE_BYTES) {
    cache.set(key, mask);
    cacheBytes += bytes;
    while (cache.size > CACHE_LIMIT || cacheBytes > CACHE_BYTES) {
      const [oldest, old] = cache.entries().next().value!;
      cache.delete(oldest);
      cacheBytes -= bytesOf(old);
    }
  }
  return mask;
}

function build(
  node: PatternNode,
  seqQ: number,
  seqK: number,
  heads: number,
  distinct: number,
  blockQ: number,
  blockK: number,
): BlockMask {
  const numQBlocks = Math.ceil(seqQ / blockQ);
  const numKBlocks = Math.ceil(seqK / blockK);
  const offset = seqK - seqQ;
  /** key blocks that lie entirely inside [0, seqK) */
  const fullKBlocks = Math.floor(seqK / blockK);
  const store = new TileStore(blockQ, blockK);
  const rowPtr = new Int32Array(distinct * numQBlocks + 1);
  const entries = new Entries();
  const win = new Int32Array(MAX_PERIOD_TILES);
  /** one walk of the pattern tree for tile (rows of p0…p1, key block kb) */
  const walk = (kb: number, p0: number, p1: number, rows: number, h: number): number => {
    const j0 = kb * blockK;
    const j1 = Math.min(j0 + blockK, seqK);
    store.setTile(rows, j1 - j0);
    store.until = Infinity;
    store.period = blockK;
    return node.tile(store, p0, p1, j0, j1, h);
  };

  for (let h = 0; h < distinct; h++) {
    for (let qb = 0; qb < numQBlocks; qb++) {
      const i0 = qb * blockQ;
      const i1 = Math.min(i0 + blockQ, seqQ);
      const p0 = i0 + offset;
      const p1 = i1 + offset;
      const rows = i1 - i0;
      const ranges = node.keyRanges(p0, p1, h);
      const nr = ranges === null ? 1 : ranges.length >> 1;
      let done = 0; // key blocks below `done` were visited already
      for (let k = 0; k < nr; k++) {
        const lo = ranges === null ? 0 : Math.max(ranges[2 * k], 0);
        const hi = ranges === null ? seqK : Math.min(ranges[2 * k + 1], seqK);
        if (lo >= hi) continue;
        const kbHi = Math.ceil(hi / blockK);
        for (let kb = Math.max(Math.floor(lo / blockK), done); kb < kbHi; ) {
          const id = walk(kb, p0, p1, rows, h);
          // the result repeats for the full-width tiles that start before `until`, every
          // `period` keys (see TileCtx)
          if ((kb + 1) * blockK > seqK || store.until <= (kb + 1) * blockK) {
            entries.add(kb, kb + 1, id);
            kb++;
            continue;
          }
          let end = Math.min(kbHi, fullKBlocks, Math.ceil(store.until / blockK));
          const P = store.period / blockK;
          if (P === 1) {
            entries.add(kb, end, id);
            kb = end;
            continue;
          }
          if (P > MAX_PERIOD_TILES || end - kb < 2 * P) {
            entries.add(kb, kb + 1, id);
            kb++;
            continue;
          }
          // evaluate the rest of one period, then repeat it
          win[0] = id;
          let until = store.until;
          let i = 1;
          for (; i < P; i++) {
            win[i] = walk(kb + i, p0, p1, rows, h);
            if (P % (store.period / blockK) !== 0) break;
            if (store.until < until) until = store.until;
          }
          if (i < P) {
            for (let k = 0; k <= i; k++) entries.add(kb + k, kb + k + 1, win[k]);
            kb += i + 1;
            continue;
          }
          end = Math.max(kb + P, Math.min(end, Math.ceil(until / blockK)));
          entries.addPeriodic(kb, end, win, P);
          kb = end;
        }
        if (kbHi > done) done = kbHi;
      }
      rowPtr[h * numQBlocks + qb + 1] = entries.length;
    }
  }

  // keep only the bit tiles that are referenced, numbered in order of first use
  const tileWords = store.tileWords;
  const n = entries.length;
  const bits = new Uint32Array(entries.used.length * tileWords);
  entries.used.forEach((id, t) => bits.set(store.words.subarray((id - 2) * tileWords, (id - 1) * tileWords), t * tileWords));
  // trim the growable arrays (a view when little would be saved by a copy)
  const trim = (a: Int32Array): Int32Array => (a.length - n <= n >> 2 ? a.subarray(0, n) : a.slice(0, n));
  let colIdx = trim(entries.cols);
  const partial = trim(entries.partial);
  let finalRowPtr = rowPtr;
  let finalPartial = partial;

  if (heads > distinct) {
    // rows of head h are those of head h mod distinct (distinct = the head period here)
    const rowsPerHead = numQBlocks;
    const perHead = Array.from({ length: distinct }, (_, h) => rowPtr[(h + 1) * rowsPerHead] - rowPtr[h * rowsPerHead]);
    let total = 0;
    for (let h = 0; h < heads; h++) total += perHead[h % distinct];
    if (total > MAX_MASK_TILES) throw tooManyTiles();
    const c2 = new Int32Array(total);
    const p2 = new Int32Array(total);
    const r2 = new Int32Array(heads * rowsPerHead + 1);
    let at = 0;
    for (let h = 0; h < heads; h++) {
      const src = h % distinct;
      const s0 = rowPtr[src * rowsPerHead];
      const s1 = rowPtr[(src + 1) * rowsPerHead];
      c2.set(colIdx.subarray(s0, s1), at);
      p2.set(partial.subarray(s0, s1), at);
      for (let qb = 0; qb < rowsPerHead; qb++) r2[h * rowsPerHead + qb + 1] = at + rowPtr[src * rowsPerHead + qb + 1] - s0;
      at += s1 - s0;
    }
    colIdx = c2;
    finalPartial = p2;
    finalRowPtr = r2;
  }

  return Object.freeze({
    seqQ,
    seqK,
    blockQ,
    blockK,
    numQBlocks,
    numKBlocks,
    heads,
    rowPtr: finalRowPtr,
    colIdx,
    partial: finalPartial,
    wordsPerRow: store.wpr,
    bits,
  });
}
