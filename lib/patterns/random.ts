/**
 * The random primitives: `random(k, seed)` (k keys per query) and `randomBlocks(r, b, seed)`
 * (r key blocks per query block), drawn reproducibly from the seed and the query (block), never
 * ahead of it.
 */
import { hashInts, Rng } from '../rng.js';
import type { TileClass } from './pattern.js';
import { checkInt } from './errors.js';
import { EMPTY, FULL, PARTIAL, PatternNode, floorDiv, lowerBound, normalizeRanges, setBit, setBits, type Ranges } from './node.js';

/** the largest seed (seeds are integers in [0, 2^32)) */
const MAX_SEED = 0xffffffff;

/**
 * k distinct integers from [0, n), sorted, drawn by Floyd's algorithm from `new Rng(seed)`
 * (all of [0, n) when k ≥ n).
 */
function sample(n: number, k: number, seed: number): Float64Array {
  if (k >= n) {
    const all = new Float64Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  const rng = new Rng(seed);
  const chosen = new Set<number>();
  for (let t = n - k; t < n; t++) {
    const v = rng.int(t + 1);
    chosen.add(chosen.has(v) ? t : v);
  }
  return Float64Array.from(chosen).sort();
}

/** A small bounded cache of draws per key. */
class DrawCache {
  private readonly map = new Map<number, Float64Array>();
  constructor(private readonly make: (x: number) => Float64Array) {}
  get(x: number): Float64Array {
    let v = this.map.get(x);
    if (v === undefined) {
      if (this.map.size >= 4096) this.map.clear();
      v = this.make(x);
      this.map.set(x, v);
    }
    return v;
  }
}

/** number of elements of sorted `a` in [lo, hi) */
function countIn(a: Float64Array, lo: number, hi: number): number {
  return lowerBound(a, hi) - lowerBound(a, lo);
}

/**
 * `random(k, seed)`: each query position p ≥ 0 reads k keys drawn without replacement from
 * [0, p] (all of them when p < k), deterministically from (seed, p) via
 * `new Rng(hashInts(seed, p))` and Floyd's sampling. Never reads ahead.
 */
export class RandomPattern extends PatternNode {
  private readonly draws: DrawCache;
  /** the (key, row) pairs of the query block last asked for by keyRanges, sorted by key */
  private blockP0 = 0;
  private blockP1 = 0;
  private blockKeys: Float64Array | null = null;
  private blockRows: Int32Array | null = null;
  constructor(
    readonly k: number,
    readonly seed: number,
  ) {
    super();
    checkInt('random', 'k', 0, k, 1);
    checkInt('random', 'seed', 1, seed, 0, MAX_SEED);
    this.draws = new DrawCache((p) => sample(p + 1, k, hashInts(seed, p)));
  }
  override toString(): string {
    return `random(${this.k}, ${this.seed})`;
  }
  /** the sorted keys that position p ≥ 0 reads */
  keysOf(p: number): Float64Array {
    return this.draws.get(p);
  }
  allows(p: number, j: number): boolean {
    if (j < 0 || j > p) return false;
    if (this.k > p) return true;
    const a = this.draws.get(p);
    const i = lowerBound(a, j);
    return i < a.length && a[i] === j;
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    if (p1 <= 0 || j1 <= 0 || j0 > p1 - 1) return EMPTY;
    // when every row takes all of [0, p], this is causal restricted to j ≥ 0
    if (this.k >= p1) return j0 >= 0 && j1 - 1 <= p0 ? FULL : PARTIAL;
    return PARTIAL;
  }
  override runEnd(c: TileClass, _p0: number, p1: number, j0: number): number {
    return c === EMPTY && j0 > p1 - 1 ? Infinity : j0 + 1;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    if (p1 <= 0) return [];
    const a = Math.max(p0, 0);
    if (this.k * (p1 - a) >= p1) return [0, p1];
    // remember every (key, row) pair of the block, sorted by key, for fill()
    const rows = p1 - p0;
    const enc: number[] = [];
    for (let p = a; p < p1; p++) for (const j of this.draws.get(p)) enc.push(j * rows + (p - p0));
    const sorted = Float64Array.from(enc).sort();
    const keys = new Float64Array(sorted.length);
    const rowOf = new Int32Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      keys[i] = Math.floor(sorted[i] / rows);
      rowOf[i] = sorted[i] - keys[i] * rows;
    }
    this.blockP0 = p0;
    this.blockP1 = p1;
    this.blockKeys = keys;
    this.blockRows = rowOf;
    const out: number[] = [];
    for (const j of keys) {
      const m = out.length;
      if (m > 0 && j <= out[m - 1]) {
        if (j + 1 > out[m - 1]) out[m - 1] = j + 1;
      } else out.push(j, j + 1);
    }
    return out;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const keys = this.blockKeys;
    const rowOf = this.blockRows;
    if (keys !== null && rowOf !== null && p0 === this.blockP0 && p1 === this.blockP1 && this.k < p1) {
      for (let i = lowerBound(keys, j0); i < keys.length && keys[i] < j1; i++) setBit(buf, rowOf[i] * wpr, keys[i] - j0);
      return;
    }
    for (let p = Math.max(p0, 0), row = (Math.max(p0, 0) - p0) * wpr; p < p1; p++, row += wpr) {
      if (this.k > p) {
        setBits(buf, row, Math.max(-j0, 0), Math.min(p + 1, j1) - j0);
        continue;
      }
      const a = this.draws.get(p);
      for (let i = lowerBound(a, j0); i < a.length && a[i] < j1; i++) setBit(buf, row, a[i] - j0);
    }
  }
}

/**
 * `randomBlocks(r, b, seed)` (BigBird): positions are grouped in b-blocks; the queries of block
 * B = ⌊p/b⌋ ≥ 0 read every key of r blocks drawn without replacement from blocks 0 … B (all of
 * them when B < r), deterministically from (seed, B) via `new Rng(hashInts(seed, B))`.
 * Never reads past the query's own block.
 */
export class RandomBlocksPattern extends PatternNode {
  private readonly draws: DrawCache;
  constructor(
    readonly r: number,
    readonly b: number,
    readonly seed: number,
  ) {
    super();
    checkInt('randomBlocks', 'r', 0, r, 1);
    checkInt('randomBlocks', 'b', 1, b, 1);
    checkInt('randomBlocks', 'seed', 2, seed, 0, MAX_SEED);
    this.draws = new DrawCache((B) => sample(B + 1, r, hashInts(seed, B)));
  }
  override toString(): string {
    return `randomBlocks(${this.r}, ${this.b}, ${this.seed})`;
  }
  /** the sorted key blocks that query block B ≥ 0 reads */
  blocksOf(B: number): Float64Array {
    return this.draws.get(B);
  }
  allows(p: number, j: number): boolean {
    if (p < 0 || j < 0) return false;
    const B = floorDiv(p, this.b);
    const J = floorDiv(j, this.b);
    if (J > B) return false;
    if (this.r > B) return true;
    const a = this.draws.get(B);
    const i = lowerBound(a, J);
    return i < a.length && a[i] === J;
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    if (p1 <= 0 || j1 <= 0) return EMPTY;
    const b = this.b;
    const B0 = floorDiv(Math.max(p0, 0), b);
    const B1 = floorDiv(p1 - 1, b);
    const J0 = floorDiv(Math.max(j0, 0), b);
    const J1 = floorDiv(j1 - 1, b);
    if (J0 > B1) return EMPTY;
    if (B1 - B0 > 64) return PARTIAL;
    let any = false;
    let all = p0 >= 0 && j0 >= 0;
    for (let B = B0; B <= B1; B++) {
      const n = this.r > B ? Math.max(0, Math.min(J1, B) - J0 + 1) : countIn(this.draws.get(B), J0, J1 + 1);
      if (n > 0) any = true;
      if (n < J1 - J0 + 1) all = false;
      if (any && !all) return PARTIAL;
    }
    return any ? (all ? FULL : PARTIAL) : EMPTY;
  }
  override memoKey(p0: number, p1: number, j0: number, j1: number): number | undefined {
    // the content is fixed by the offsets within the b-blocks and which (query block, key block)
    // pairs were drawn
    const b = this.b;
    if (p0 < 0 || j0 < 0 || b > 4096) return undefined;
    const B0 = floorDiv(p0, b);
    const B1 = floorDiv(p1 - 1, b);
    const J0 = floorDiv(j0, b);
    const J1 = floorDiv(j1 - 1, b);
    if ((B1 - B0 + 1) * (J1 - J0 + 1) > 24) return undefined;
    let m = 0;
    for (let B = B0; B <= B1; B++) {
      const a = this.r > B ? null : this.draws.get(B);
      for (let J = J0; J <= J1; J++) {
        const drawn = J <= B && (a === null || a[lowerBound(a, J)] === J);
        m = m * 2 + (drawn ? 1 : 0);
      }
    }
    return (m * b + (p0 - B0 * b)) * b + (j0 - J0 * b);
  }
  override runEnd(c: TileClass, _p0: number, p1: number, j0: number): number {
    return c === EMPTY && p1 > 0 && floorDiv(Math.max(j0, 0), this.b) > floorDiv(p1 - 1, this.b) ? Infinity : j0 + 1;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    if (p1 <= 0) return [];
    const b = this.b;
    const B0 = floorDiv(Math.max(p0, 0), b);
    const B1 = floorDiv(p1 - 1, b);
    if (this.r * (B1 - B0 + 1) >= B1 + 1) return [0, (B1 + 1) * b];
    const pairs: number[] = [];
    for (let B = B0; B <= B1; B++) for (const J of this.draws.get(B)) pairs.push(J * b, (J + 1) * b);
    return normalizeRanges(pairs);
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const b = this.b;
    const C = j1 - j0;
    for (let p = Math.max(p0, 0), row = (Math.max(p0, 0) - p0) * wpr; p < p1; p++, row += wpr) {
      const B = floorDiv(p, b);
      if (this.r > B) {
        setBits(buf, row, Math.max(-j0, 0), Math.min((B + 1) * b - j0, C));
        continue;
      }
      const a = this.draws.get(B);
      for (let i = lowerBound(a, floorDiv(Math.max(j0, 0), b)); i < a.length && a[i] * b < j1; i++) {
        setBits(buf, row, Math.max(a[i] * b - j0, 0), Math.min((a[i] + 1) * b - j0, C));
      }
    }
  }
}
