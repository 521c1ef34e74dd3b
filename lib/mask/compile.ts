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
import { MAX_PERIOD_TILES, type PatternNode } from '../patterns/node.js';
import { toNode } from '../patterns/index.js';
import { describeValue } from '../describe.js';
import { cachedMask, cacheMask } from './cache.js';
import { Entries } from './csr-builder.js';
import { MAX_MASK_BLOCK, MAX_MASK_HEADS, MAX_MASK_SEQ, MAX_MASK_TILE_BITS, MAX_MASK_TILES, tooManyTiles } from './limits.js';
import { TileStore } from './tile-store.js';

export { clearMaskCache } from './cache.js';
export { MAX_MASK_BLOCK, MAX_MASK_HEADS, MAX_MASK_SEQ, MAX_MASK_TILE_BITS, MAX_MASK_TILES } from './limits.js';

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
    const hit = cachedMask(key);
    if (hit !== undefined) return hit;
  }
  const mask = build(node, seqQ, seqK, heads, Math.min(heads, period), blockQ, blockK);
  if (key !== null) cacheMask(key, mask);
  return mask;
}

/** The geometry of one compile. */
type Grid = Pick<BlockMask, 'seqQ' | 'seqK' | 'blockQ' | 'blockK' | 'numQBlocks' | 'numKBlocks'> & {
  /** key blocks that lie entirely inside [0, seqK) */
  readonly fullKBlocks: number;
};

/** The tiles of one row of tiles (query block qb of head h): one walk of the pattern tree per change of behaviour. */
class RowCompiler {
  readonly #win = new Int32Array(MAX_PERIOD_TILES);

  constructor(
    private readonly node: PatternNode,
    private readonly g: Grid,
    private readonly store: TileStore,
    private readonly entries: Entries,
  ) {}

  /** one walk of the pattern tree for tile (rows of p0…p1, key block kb) */
  #walk(kb: number, p0: number, p1: number, rows: number, h: number): number {
    const { blockK, seqK } = this.g;
    const j0 = kb * blockK;
    const j1 = Math.min(j0 + blockK, seqK);
    this.store.setTile(rows, j1 - j0);
    this.store.until = Infinity;
    this.store.period = blockK;
    return this.node.tile(this.store, p0, p1, j0, j1, h);
  }

  /** Appends the tiles of row (h, qb) to the entries. */
  compile(h: number, qb: number): void {
    const { blockQ, blockK, seqQ, seqK } = this.g;
    const offset = seqK - seqQ;
    const i0 = qb * blockQ;
    const i1 = Math.min(i0 + blockQ, seqQ);
    const p0 = i0 + offset;
    const p1 = i1 + offset;
    const ranges = this.node.keyRanges(p0, p1, h);
    const nr = ranges === null ? 1 : ranges.length >> 1;
    let done = 0; // key blocks below `done` were visited already
    for (let k = 0; k < nr; k++) {
      const lo = ranges === null ? 0 : Math.max(ranges[2 * k], 0);
      const hi = ranges === null ? seqK : Math.min(ranges[2 * k + 1], seqK);
      if (lo >= hi) continue;
      const kbHi = Math.ceil(hi / blockK);
      for (let kb = Math.max(Math.floor(lo / blockK), done); kb < kbHi; ) kb = this.#run(kb, kbHi, p0, p1, i1 - i0, h);
      if (kbHi > done) done = kbHi;
    }
  }

  /**
   * Visits key block kb and the run of blocks the walk proves alike (the result repeats for the
   * full-width tiles that start before `until`, every `period` keys: see TileCtx); returns the next
   * key block to visit.
   */
  #run(kb: number, kbHi: number, p0: number, p1: number, rows: number, h: number): number {
    const { blockK, seqK, fullKBlocks } = this.g;
    const { store, entries } = this;
    const id = this.#walk(kb, p0, p1, rows, h);
    if ((kb + 1) * blockK > seqK || store.until <= (kb + 1) * blockK) {
      entries.add(kb, kb + 1, id);
      return kb + 1;
    }
    let end = Math.min(kbHi, fullKBlocks, Math.ceil(store.until / blockK));
    const P = store.period / blockK;
    if (P === 1) {
      entries.add(kb, end, id);
      return end;
    }
    if (P > MAX_PERIOD_TILES || end - kb < 2 * P) {
      entries.add(kb, kb + 1, id);
      return kb + 1;
    }
    // evaluate the rest of one period, then repeat it
    const win = this.#win;
    win[0] = id;
    let until = store.until;
    let i = 1;
    for (; i < P; i++) {
      win[i] = this.#walk(kb + i, p0, p1, rows, h);
      if (P % (store.period / blockK) !== 0) break;
      if (store.until < until) until = store.until;
    }
    if (i < P) {
      for (let k = 0; k <= i; k++) entries.add(kb + k, kb + k + 1, win[k]);
      return kb + i + 1;
    }
    end = Math.max(kb + P, Math.min(end, Math.ceil(until / blockK)));
    entries.addPeriodic(kb, end, win, P);
    return end;
  }
}

/** The bit tiles the entries reference, numbered in order of first use. */
function collectBits(store: TileStore, entries: Entries): Uint32Array {
  const tileWords = store.tileWords;
  const bits = new Uint32Array(entries.used.length * tileWords);
  entries.used.forEach((id, t) => bits.set(store.words.subarray((id - 2) * tileWords, (id - 1) * tileWords), t * tileWords));
  return bits;
}

/** The first n entries of a growable array (a view when little would be saved by a copy). */
function trim(a: Int32Array, n: number): Int32Array {
  return a.length - n <= n >> 2 ? a.subarray(0, n) : a.slice(0, n);
}

/** The three CSR arrays of a BlockMask. */
interface Csr {
  rowPtr: Int32Array;
  colIdx: Int32Array;
  partial: Int32Array;
}

/**
 * The CSR of `heads` heads from the rows of `distinct` (the head period): the rows of head h are
 * those of head h mod distinct.
 */
function replicateHeads(csr: Csr, rowsPerHead: number, heads: number, distinct: number): Csr {
  const { rowPtr, colIdx, partial } = csr;
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
  return { rowPtr: r2, colIdx: c2, partial: p2 };
}

/** Compiles the rows of the `distinct` heads, then replicates them over `heads`. */
function build(node: PatternNode, seqQ: number, seqK: number, heads: number, distinct: number, blockQ: number, blockK: number): BlockMask {
  const g: Grid = {
    seqQ,
    seqK,
    blockQ,
    blockK,
    numQBlocks: Math.ceil(seqQ / blockQ),
    numKBlocks: Math.ceil(seqK / blockK),
    fullKBlocks: Math.floor(seqK / blockK),
  };
  const store = new TileStore(blockQ, blockK);
  const entries = new Entries();
  const rows = new RowCompiler(node, g, store, entries);
  const rowPtr = new Int32Array(distinct * g.numQBlocks + 1);
  for (let h = 0; h < distinct; h++) {
    for (let qb = 0; qb < g.numQBlocks; qb++) {
      rows.compile(h, qb);
      rowPtr[h * g.numQBlocks + qb + 1] = entries.length;
    }
  }
  const n = entries.length;
  let csr: Csr = { rowPtr, colIdx: trim(entries.cols, n), partial: trim(entries.partial, n) };
  if (heads > distinct) csr = replicateHeads(csr, g.numQBlocks, heads, distinct);
  return Object.freeze({
    seqQ,
    seqK,
    blockQ,
    blockK,
    numQBlocks: g.numQBlocks,
    numKBlocks: g.numKBlocks,
    heads,
    rowPtr: csr.rowPtr,
    colIdx: csr.colIdx,
    partial: csr.partial,
    wordsPerRow: store.wpr,
    bits: collectBits(store, entries),
  });
}
