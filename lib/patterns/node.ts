/**
 * The internal base class of every pattern this package builds. On top of the public `Pattern`
 * contract it gives the mask compiler three things that are deliberately not part of the public
 * interface:
 *
 *  - `keyRanges(p0, p1, h)`: a superset of the keys any query position in [p0, p1) may read, as
 *    sorted disjoint half-open ranges, so the compiler visits only candidate key blocks;
 *  - `tile(ctx, …)`: classification and content of one tile in a single walk of the pattern tree,
 *    returning a tile id (0 empty, 1 full, ≥ 2 an interned bit tile of the current compile);
 *  - `memoKey(…)`: for primitives whose tile content depends on a few numbers only (for example
 *    p0 − j0 for patterns that are functions of p − j), a key under which the content is reused;
 *  - `runEnd(…)`: how far to the right of a tile the node's result provably stays the same, so
 *    that the compiler can copy results over runs of tiles instead of walking the tree again.
 *
 * Pattern objects are immutable; the only mutable state is per-compile memo tables (tagged with
 * the compile's generation) and caches of random draws, so sharing patterns is safe.
 */
import { TileClass, type Pattern } from './pattern.js';

export const EMPTY = TileClass.Empty;
export const PARTIAL = TileClass.Partial;
export const FULL = TileClass.Full;

/** Tile ids with a fixed meaning in every compile. */
export const ID_EMPTY = 0;
export const ID_FULL = 1;

/**
 * Candidate key ranges: a flat array [lo0, hi0, lo1, hi1, …] of sorted, disjoint, half-open
 * ranges (bounds may be ±Infinity), or null for "every key".
 */
export type Ranges = number[] | null;

/** What a pattern node needs from the mask compiler while it computes tile ids. */
export interface TileCtx {
  /** distinguishes compiles, so that nodes can keep per-compile memo tables */
  readonly gen: number;
  /** the current tile has the full blockQ × blockK shape (memo keys are only valid for those) */
  readonly unclipped: boolean;
  /** key columns per tile (the width of every unclipped tile) */
  readonly blockK: number;
  /**
   * Run bound, lowered by every node that computes a tile: the result of the whole walk is the same
   * for every full-width tile of the same query rows whose first key j0' lies in [j0, until) and
   * differs from j0 by a multiple of `period`. The compiler sets it to +Infinity before each walk.
   */
  until: number;
  /**
   * Run period in key positions, a multiple of blockK: raised (by lcm) by nodes whose tiles only
   * repeat every few tiles. The compiler sets it to blockK before each walk.
   */
  period: number;
  /** words per bit-tile row */
  readonly wpr: number;
  /** scratch tile (row-major, wpr words per row) that `fill` writes into */
  readonly buf: Uint32Array;
  /** zeroes the scratch tile */
  clear(): void;
  /** interns the scratch tile: 0 when it holds no bit, 1 when every in-range bit is set */
  intern(): number;
  or(a: number, b: number): number;
  and(a: number, b: number): number;
  /** a ∧ ¬b */
  andNot(a: number, b: number): number;
}

export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

export function mod(a: number, b: number): number {
  const r = a % b;
  return r < 0 ? r + b : r;
}

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** periodic run claims span at most this many tiles per period */
export const MAX_PERIOD_TILES = 256;

/** Sets bits [c0, c1) of the row that starts at word `base`. */
export function setBits(buf: Uint32Array, base: number, c0: number, c1: number): void {
  if (c0 >= c1) return;
  let w0 = c0 >>> 5;
  const w1 = (c1 - 1) >>> 5;
  const m0 = (0xffffffff << (c0 & 31)) >>> 0;
  const m1 = 0xffffffff >>> (31 - ((c1 - 1) & 31));
  if (w0 === w1) {
    buf[base + w0] |= m0 & m1;
    return;
  }
  buf[base + w0] |= m0;
  for (w0++; w0 < w1; w0++) buf[base + w0] = 0xffffffff;
  buf[base + w1] |= m1;
}

/** Sets bit c of the row that starts at word `base`. */
export function setBit(buf: Uint32Array, base: number, c: number): void {
  buf[base + (c >>> 5)] |= 1 << (c & 31);
}

/**
 * Classifies a band pattern (allowed iff lo ≤ p − j ≤ hi) on a rectangle whose differences
 * p − j cover exactly [dmin, dmax].
 */
export function classifyBand(dmin: number, dmax: number, lo: number, hi: number): TileClass {
  if (dmax < lo || dmin > hi) return EMPTY;
  if (dmin >= lo && dmax <= hi) return FULL;
  return PARTIAL;
}

/** Intersection of two range lists. */
export function intersectRanges(a: Ranges, b: Ranges): Ranges {
  if (a === null) return b;
  if (b === null) return a;
  const out: number[] = [];
  let i = 0;
  let k = 0;
  while (i < a.length && k < b.length) {
    const lo = Math.max(a[i], b[k]);
    const hi = Math.min(a[i + 1], b[k + 1]);
    if (lo < hi) out.push(lo, hi);
    if (a[i + 1] < b[k + 1]) i += 2;
    else k += 2;
  }
  return out;
}

/** Union of range lists (each sorted and disjoint). */
export function unionRanges(lists: Ranges[]): Ranges {
  let acc: number[] | null = null;
  for (const l of lists) {
    if (l === null) return null;
    acc = acc === null ? l : mergeRanges(acc, l);
  }
  return acc ?? [];
}

/** Union of two sorted disjoint range lists, by a linear merge. */
function mergeRanges(a: number[], b: number[]): number[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: number[] = [];
  let i = 0;
  let k = 0;
  while (i < a.length || k < b.length) {
    let lo: number;
    let hi: number;
    if (k >= b.length || (i < a.length && a[i] <= b[k])) {
      lo = a[i];
      hi = a[i + 1];
      i += 2;
    } else {
      lo = b[k];
      hi = b[k + 1];
      k += 2;
    }
    const m = out.length;
    if (m > 0 && lo <= out[m - 1]) {
      if (hi > out[m - 1]) out[m - 1] = hi;
    } else out.push(lo, hi);
  }
  return out;
}

/** Sorts and merges an arbitrary flat list of [lo, hi) pairs (empty ranges dropped). */
export function normalizeRanges(pairs: number[]): number[] {
  const n = pairs.length >> 1;
  if (n <= 1) return n === 1 && pairs[0] < pairs[1] ? pairs : [];
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (pairs[2 * i] < pairs[2 * i + 1]) idx.push(i);
  idx.sort((x, y) => pairs[2 * x] - pairs[2 * y]);
  const out: number[] = [];
  for (const i of idx) {
    const lo = pairs[2 * i];
    const hi = pairs[2 * i + 1];
    const m = out.length;
    if (m > 0 && lo <= out[m - 1]) {
      if (hi > out[m - 1]) out[m - 1] = hi;
    } else out.push(lo, hi);
  }
  return out;
}

/** index of the first element of sorted `a` that is ≥ x */
export function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The deepest pattern tree the combinators build (unions and intersections of unions and
 * intersections are flattened, so only differences, perHead and mixed nesting add levels), and the
 * deepest nesting of parentheses parsePattern reads: compiling, printing and parsing recurse once
 * per level, and must not run out of stack.
 */
export const MAX_PATTERN_DEPTH = 256;

let genCounter = 0;
/** A fresh compile generation. */
export function nextGen(): number {
  genCounter = (genCounter + 1) | 0;
  return genCounter;
}

/** Base class of every built-in pattern. */
export abstract class PatternNode implements Pattern {
  abstract toString(): string;
  abstract allows(p: number, j: number, head: number): boolean;
  abstract classify(p0: number, p1: number, j0: number, j1: number, head: number): TileClass;

  get headPeriod(): number {
    return 1;
  }

  /**
   * @internal Levels of the pattern tree: 1 for a primitive, 1 + the deepest part for a combinator;
   * at most MAX_PATTERN_DEPTH (compiling and printing recurse once per level).
   */
  get treeDepth(): number {
    return 1;
  }

  /** Patterns serialize as their canonical string. */
  toJSON(): string {
    return this.toString();
  }

  /** `console.log(pattern)` shows the canonical string rather than the node's internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Pattern(${this.toString()})`;
  }

  /** false when the tree holds a user-supplied Pattern (its toString is not trusted as a key). */
  get cacheable(): boolean {
    return true;
  }

  /** Candidate keys for query positions [p0, p1): a superset of every allowed key. */
  keyRanges(_p0: number, _p1: number, _head: number): Ranges {
    return null;
  }

  /**
   * A number that determines the content of a full-shape tile whose top-left corner is (p0, j0)
   * within one compile, or undefined when the content is not memoized.
   */
  memoKey(_p0: number, _p1: number, _j0: number, _j1: number): number | undefined {
    return undefined;
  }

  /**
   * Run bound of this node (see TileCtx.until) for a tile classified `c` whose first key is j0 and
   * width W: the first tile start j0' > j0 at which a tile of the same rows may get a different
   * result. The default, j0 + 1, claims nothing. A node whose claim only holds for starts a
   * multiple P of W apart also raises ctx.period to lcm(ctx.period, P).
   */
  runEnd(_c: TileClass, _p0: number, _p1: number, j0: number, _W: number, _ctx: TileCtx): number {
    return j0 + 1;
  }

  /**
   * ORs the allowed pairs of [p0, p1) × [j0, j1) into `buf` (row r = p − p0, column c = j − j0,
   * `wpr` words per row). The default evaluates `allows` element by element.
   */
  fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number, head: number): void {
    for (let p = p0, base = 0; p < p1; p++, base += wpr) {
      for (let j = j0; j < j1; j++) if (this.allows(p, j, head)) setBit(buf, base, j - j0);
    }
  }

  private memoGen = 0;
  private memo: Map<number, number> | null = null;

  /** Classifies the tile and, when partial, returns the id of its content (see TileCtx). */
  tile(ctx: TileCtx, p0: number, p1: number, j0: number, j1: number, head: number): number {
    const c = this.classify(p0, p1, j0, j1, head);
    const u = this.runEnd(c, p0, p1, j0, ctx.blockK, ctx);
    if (u < ctx.until) ctx.until = u;
    if (c === EMPTY) return ID_EMPTY;
    if (c === FULL) return ID_FULL;
    let key: number | undefined;
    let memo: Map<number, number> | null = null;
    if (ctx.unclipped) {
      key = this.memoKey(p0, p1, j0, j1);
      if (key !== undefined) {
        if (this.memoGen !== ctx.gen || this.memo === null) {
          this.memo = new Map();
          this.memoGen = ctx.gen;
        }
        memo = this.memo;
        const v = memo.get(key);
        if (v !== undefined) return v;
      }
    }
    ctx.clear();
    this.fill(ctx.buf, ctx.wpr, p0, p1, j0, j1, head);
    const id = ctx.intern();
    if (memo !== null) memo.set(key!, id);
    return id;
  }
}
