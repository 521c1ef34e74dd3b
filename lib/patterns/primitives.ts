/**
 * The primitive patterns of SPEC.md's table (the random ones are random.ts). Every class checks its parameters in the constructor
 * (TypeError for a non-number, RangeError for a bad value) and classifies rectangles exactly for
 * Empty and Full (random patterns: exact where it is cheap, Partial otherwise).
 *
 * Positions may be negative (seqQ > seqK puts early queries before key 0); every predicate below is
 * defined for all integers, so e.g. `causal` gives such queries an empty row.
 */
import { hashInts, Rng } from '../rng.js';
import type { TileClass } from './pattern.js';
import { checkInt, rangeArg } from './errors.js';
import {
  EMPTY,
  FULL,
  PARTIAL,
  PatternNode,
  classifyBand,
  floorDiv,
  lowerBound,
  lcm,
  mod,
  MAX_PERIOD_TILES,
  normalizeRanges,
  setBit,
  setBits,
  type Ranges,
  type TileCtx,
} from './node.js';

// ---------------------------------------------------------------------------------------------
// full

/** Every key: `full`. */
export class FullPattern extends PatternNode {
  override toString(): string {
    return 'full';
  }
  allows(): boolean {
    return true;
  }
  classify(): TileClass {
    return FULL;
  }
  override runEnd(): number {
    return Infinity;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    for (let p = p0, base = 0; p < p1; p++, base += wpr) setBits(buf, base, 0, j1 - j0);
  }
}

// ---------------------------------------------------------------------------------------------
// bands: causal, window, sliding — allowed iff lo ≤ p − j ≤ hi

abstract class BandPattern extends PatternNode {
  constructor(
    readonly lo: number,
    readonly hi: number,
  ) {
    super();
  }
  allows(p: number, j: number): boolean {
    const d = p - j;
    return d >= this.lo && d <= this.hi;
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    return classifyBand(p0 - (j1 - 1), p1 - 1 - j0, this.lo, this.hi);
  }
  override keyRanges(p0: number, p1: number): Ranges {
    return [p0 - this.hi, p1 - this.lo];
  }
  override runEnd(c: TileClass, p0: number, p1: number, j0: number, W: number): number {
    if (c === FULL) return p0 - W + 2 - this.lo; // full while p0 − (j0' + W − 1) ≥ lo
    if (c === EMPTY) return p1 - 1 - j0 < this.lo ? Infinity : p0 - W + 1 - this.hi;
    return j0 + 1;
  }
  override memoKey(p0: number, _p1: number, j0: number): number {
    return p0 - j0;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const C = j1 - j0;
    for (let p = p0, base = 0; p < p1; p++, base += wpr) {
      const a = Math.max(p - this.hi - j0, 0);
      const b = Math.min(p - this.lo - j0 + 1, C);
      if (a < b) setBits(buf, base, a, b);
    }
  }
}

/** `causal`: j ≤ p. */
export class CausalPattern extends BandPattern {
  constructor() {
    super(0, Infinity);
  }
  override toString(): string {
    return 'causal';
  }
}

/** `window(left, right = 0)`: p − left ≤ j ≤ p + right. */
export class WindowPattern extends BandPattern {
  readonly left: number;
  readonly right: number;
  constructor(left: number, right = 0) {
    checkInt('window', 'left', 0, left, 0);
    checkInt('window', 'right', 1, right, 0);
    super(-right, left);
    this.left = left;
    this.right = right;
  }
  override toString(): string {
    return this.right === 0 ? `window(${this.left})` : `window(${this.left}, ${this.right})`;
  }
}

/** `sliding(w)`: the w most recent keys including the query itself, p − w < j ≤ p. */
export class SlidingPattern extends BandPattern {
  readonly w: number;
  constructor(w: number) {
    checkInt('sliding', 'w', 0, w, 1);
    super(0, w - 1);
    this.w = w;
  }
  override toString(): string {
    return `sliding(${this.w})`;
  }
}

// ---------------------------------------------------------------------------------------------
// arithmetic progressions of p − j: strided, dilated, grouped

/** allowed iff p − j = base + k·step for some integer 0 ≤ k < count */
abstract class ProgressionPattern extends PatternNode {
  readonly last: number;
  constructor(
    readonly base: number,
    readonly step: number,
    readonly count: number,
  ) {
    super();
    this.last = count === Infinity ? Infinity : base + (count - 1) * step;
  }
  allows(p: number, j: number): boolean {
    const d = p - j;
    return d >= this.base && d <= this.last && (d - this.base) % this.step === 0;
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    const dmin = p0 - (j1 - 1);
    const dmax = p1 - 1 - j0;
    const lo = Math.max(dmin, this.base);
    const hi = Math.min(dmax, this.last);
    if (lo > hi) return EMPTY;
    const first = this.base + Math.ceil((lo - this.base) / this.step) * this.step;
    if (first > hi) return EMPTY;
    if (this.step === 1) return dmin >= this.base && dmax <= this.last ? FULL : PARTIAL;
    return dmin === dmax ? FULL : PARTIAL;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    return [p0 - this.last, p1 - this.base];
  }
  override runEnd(c: TileClass, p0: number, p1: number, j0: number, W: number, ctx: TileCtx): number {
    // inside the infinite progression, tiles lcm(W, step) apart are equal
    if (this.count === Infinity && p0 - (j0 + W - 1) >= this.base) {
      const P = lcm(W, this.step);
      if (P <= MAX_PERIOD_TILES * W) {
        if (P !== W) ctx.period = lcm(ctx.period, P);
        return p0 - W + 2 - this.base;
      }
    }
    if (c === EMPTY) {
      if (p1 - 1 - j0 < this.base) return Infinity;
      if (p0 - (j0 + W - 1) > this.last) return p0 - W + 1 - this.last;
    }
    return j0 + 1;
  }
  override memoKey(p0: number, _p1: number, j0: number, j1: number): number {
    // deep inside the (infinite) progression the content only depends on the residue of p0 − j0;
    // odd keys name residues, even keys offsets p0 − j0 (small integers stay V8 Smis)
    if (this.count === Infinity && p0 - (j1 - 1) >= this.base) return 2 * mod(p0 - j0 - this.base, this.step) + 1;
    return 2 * (p0 - j0);
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const { base, step, last } = this;
    for (let p = p0, row = 0; p < p1; p++, row += wpr) {
      const lo = Math.max(p - j1 + 1, base);
      const hi = Math.min(p - j0, last);
      if (lo > hi) continue;
      for (let d = base + Math.ceil((lo - base) / step) * step; d <= hi; d += step) setBit(buf, row, p - d - j0);
    }
  }
}

/** `strided(s)` (Sparse Transformer): j ≤ p and (p − j) mod s = 0. */
export class StridedPattern extends ProgressionPattern {
  readonly s: number;
  constructor(s: number) {
    checkInt('strided', 's', 0, s, 1);
    super(0, s, Infinity);
    this.s = s;
  }
  override toString(): string {
    return `strided(${this.s})`;
  }
}

/** `dilated(w, d)`: j ≤ p, (p − j) mod d = 0 and (p − j)/d < w — w keys spaced d apart. */
export class DilatedPattern extends ProgressionPattern {
  readonly w: number;
  readonly d: number;
  constructor(w: number, d: number) {
    checkInt('dilated', 'w', 0, w, 1);
    checkInt('dilated', 'd', 1, d, 1);
    super(0, d, w);
    this.w = w;
    this.d = d;
  }
  override toString(): string {
    return `dilated(${this.w}, ${this.d})`;
  }
}

/** `grouped(stride, w)` (DSA representatives): j ≤ p − w and (p − w − j) mod stride = 0. */
export class GroupedPattern extends ProgressionPattern {
  readonly stride: number;
  readonly w: number;
  constructor(stride: number, w: number) {
    checkInt('grouped', 'stride', 0, stride, 1);
    checkInt('grouped', 'w', 1, w, 0);
    super(w, stride, Infinity);
    this.stride = stride;
    this.w = w;
  }
  override toString(): string {
    return `grouped(${this.stride}, ${this.w})`;
  }
}

// ---------------------------------------------------------------------------------------------
// log

function isPow2(d: number): boolean {
  if (d < 1) return false;
  if (d < 2 ** 31) return (d & (d - 1)) === 0;
  while (d % 2 === 0) d /= 2;
  return d === 1;
}

/** the smallest element of {0, 1, 2, 4, 8, …} that is ≥ a */
function logCeil(a: number): number {
  if (a <= 0) return 0;
  let x = 1;
  while (x < a) x *= 2;
  return x;
}

/** `log`: j = p, or p − j is a power of two. */
export class LogPattern extends PatternNode {
  override toString(): string {
    return 'log';
  }
  allows(p: number, j: number): boolean {
    const d = p - j;
    return d === 0 || isPow2(d);
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    const dmin = p0 - (j1 - 1);
    const dmax = p1 - 1 - j0;
    if (logCeil(dmin) > dmax) return EMPTY;
    // {0, 1, 2} is the only run of consecutive allowed differences
    if ((dmin >= 0 && dmax <= 2) || (dmin === dmax && isPow2(dmin))) return FULL;
    return PARTIAL;
  }
  override runEnd(c: TileClass, _p0: number, p1: number, j0: number): number {
    return c === EMPTY && p1 - 1 - j0 < 0 ? Infinity : j0 + 1;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    if (p1 <= 0) return [];
    const pairs: number[] = [p0, p1];
    for (let d = 1; d <= p1 - 1; d *= 2) pairs.push(p0 - d, p1 - d);
    return normalizeRanges(pairs);
  }
  override memoKey(p0: number, _p1: number, j0: number): number {
    return p0 - j0;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    for (let p = p0, row = 0; p < p1; p++, row += wpr) {
      const lo = p - j1 + 1;
      const hi = p - j0;
      for (let d = logCeil(lo); d <= hi; d = d === 0 ? 1 : d * 2) setBit(buf, row, p - d - j0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// column patterns: summary, sink

/** `summary(s, c = 1)` (Sparse Transformer "fixed"): the last c columns of every s-block, j mod s ≥ s − c. */
export class SummaryPattern extends PatternNode {
  constructor(
    readonly s: number,
    readonly c = 1,
  ) {
    super();
    checkInt('summary', 's', 0, s, 1);
    checkInt('summary', 'c', 1, c, 1);
    if (c > s) throw rangeArg('summary', `c must be at most s = ${s}, got ${c}`, 1, `an integer from 1 to ${s}`);
  }
  override toString(): string {
    return this.c === 1 ? `summary(${this.s})` : `summary(${this.s}, ${this.c})`;
  }
  allows(_p: number, j: number): boolean {
    return mod(j, this.s) >= this.s - this.c;
  }
  /** number of allowed columns in [0, x) (negative x: minus those in [x, 0)) */
  private count(x: number): number {
    return floorDiv(x, this.s) * this.c + Math.max(0, mod(x, this.s) - (this.s - this.c));
  }
  classify(_p0: number, _p1: number, j0: number, j1: number): TileClass {
    const n = this.count(j1) - this.count(j0);
    return n === 0 ? EMPTY : n === j1 - j0 ? FULL : PARTIAL;
  }
  override memoKey(_p0: number, _p1: number, j0: number): number {
    return mod(j0, this.s);
  }
  override runEnd(_c: TileClass, _p0: number, _p1: number, j0: number, W: number, ctx: TileCtx): number {
    // column pattern of period s: tiles lcm(W, s) apart are equal
    const P = lcm(W, this.s);
    if (P > MAX_PERIOD_TILES * W) return j0 + 1;
    if (P !== W) ctx.period = lcm(ctx.period, P);
    return Infinity;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    for (let j = j0; j < j1; j++) if (this.allows(0, j)) setBit(buf, 0, j - j0);
    for (let r = 1; r < p1 - p0; r++) buf.copyWithin(r * wpr, 0, wpr);
  }
}

/** `sink(n)` (attention sinks): the first n keys, j < n, for every query. */
export class SinkPattern extends PatternNode {
  constructor(readonly n: number) {
    super();
    checkInt('sink', 'n', 0, n, 1);
  }
  override toString(): string {
    return `sink(${this.n})`;
  }
  allows(_p: number, j: number): boolean {
    return j < this.n;
  }
  classify(_p0: number, _p1: number, j0: number, j1: number): TileClass {
    return j1 <= this.n ? FULL : j0 >= this.n ? EMPTY : PARTIAL;
  }
  override keyRanges(): Ranges {
    return [-Infinity, this.n];
  }
  override runEnd(c: TileClass, _p0: number, _p1: number, j0: number, W: number): number {
    return c === FULL ? this.n - W + 1 : c === EMPTY ? Infinity : j0 + 1;
  }
  override memoKey(_p0: number, _p1: number, j0: number): number {
    return j0;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const b = Math.min(this.n - j0, j1 - j0);
    for (let p = p0, row = 0; p < p1; p++, row += wpr) setBits(buf, row, 0, b);
  }
}

// ---------------------------------------------------------------------------------------------
// global

/** `global(g0, g1, …)`: global tokens read every key and are read by every query — j ∈ G or p ∈ G. */
export class GlobalPattern extends PatternNode {
  /** sorted, without duplicates */
  readonly g: readonly number[];
  private readonly set: Set<number>;
  private readonly ranges: number[];
  constructor(g: readonly number[]) {
    super();
    if (g.length === 0) throw rangeArg('global', 'needs at least one global position', -1, 'a position');
    g.forEach((x, i) => checkInt('global', `position #${i}`, i, x, 0));
    this.g = [...new Set(g)].sort((a, b) => a - b);
    this.set = new Set(this.g);
    const pairs: number[] = [];
    for (const x of this.g) pairs.push(x, x + 1);
    this.ranges = normalizeRanges(pairs);
  }
  override toString(): string {
    return `global(${this.g.join(', ')})`;
  }
  allows(p: number, j: number): boolean {
    return this.set.has(j) || this.set.has(p);
  }
  /** number of global positions in [a, b) */
  private count(a: number, b: number): number {
    return lowerBound(this.g, b) - lowerBound(this.g, a);
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    const rows = this.count(p0, p1);
    const cols = this.count(j0, j1);
    if (rows === p1 - p0 || cols === j1 - j0) return FULL;
    return rows === 0 && cols === 0 ? EMPTY : PARTIAL;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    return this.count(p0, p1) > 0 ? null : this.ranges;
  }
  override runEnd(c: TileClass, p0: number, p1: number, j0: number, W: number): number {
    if (c === FULL && this.count(p0, p1) === p1 - p0) return Infinity;
    if (c === EMPTY) {
      const k = lowerBound(this.g, j0 + W);
      return k < this.g.length ? this.g[k] - W + 1 : Infinity;
    }
    return j0 + 1;
  }
  override memoKey(p0: number, p1: number, j0: number): number | undefined {
    return this.count(p0, p1) === 0 ? j0 : undefined;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const C = j1 - j0;
    for (let k = lowerBound(this.g, j0); k < this.g.length && this.g[k] < j1; k++) setBit(buf, 0, this.g[k] - j0);
    const row0 = buf.slice(0, wpr);
    for (let p = p0, row = 0; p < p1; p++, row += wpr) {
      if (this.set.has(p)) setBits(buf, row, 0, C);
      else if (row !== 0) buf.set(row0, row);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// block, docs, prefix

/** `block(b)` (block-local): query and key in the same b-block, ⌊p/b⌋ = ⌊j/b⌋. */
export class BlockPattern extends PatternNode {
  constructor(readonly b: number) {
    super();
    checkInt('block', 'b', 0, b, 1);
  }
  override toString(): string {
    return `block(${this.b})`;
  }
  allows(p: number, j: number): boolean {
    return floorDiv(p, this.b) === floorDiv(j, this.b);
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    const b = this.b;
    const pa = floorDiv(p0, b);
    const pb = floorDiv(p1 - 1, b);
    const ja = floorDiv(j0, b);
    const jb = floorDiv(j1 - 1, b);
    if (pb < ja || jb < pa) return EMPTY;
    return pa === pb && ja === jb && pa === ja ? FULL : PARTIAL;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    return [floorDiv(p0, this.b) * this.b, (floorDiv(p1 - 1, this.b) + 1) * this.b];
  }
  override runEnd(c: TileClass, _p0: number, p1: number, j0: number): number {
    return c === EMPTY && floorDiv(j0, this.b) > floorDiv(p1 - 1, this.b) ? Infinity : j0 + 1;
  }
  override memoKey(p0: number, _p1: number, j0: number): number | undefined {
    // shifting p and j by a multiple of b changes nothing
    const base = p0 - mod(p0, this.b);
    const key = (j0 - base) * this.b + (p0 - base);
    return Math.abs(key) < 2 ** 52 ? key : undefined;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const C = j1 - j0;
    for (let p = p0, row = 0; p < p1; p++, row += wpr) {
      const s = floorDiv(p, this.b) * this.b;
      setBits(buf, row, Math.max(s - j0, 0), Math.min(s + this.b - j0, C));
    }
  }
}

/**
 * `docs(len0, len1, …)` (packed sequences): documents of the given lengths laid end to end from
 * position 0; query and key must lie in the same document. Positions outside [0, Σ len) belong to
 * no document: they read nothing and are read by nobody.
 */
export class DocsPattern extends PatternNode {
  readonly lens: readonly number[];
  /** starts[k] = first position of document k; starts[n] = total length */
  private readonly starts: Float64Array;
  constructor(lens: readonly number[]) {
    super();
    if (lens.length === 0) throw rangeArg('docs', 'needs at least one document length', -1, 'a document length');
    lens.forEach((x, i) => checkInt('docs', `length #${i}`, i, x, 1));
    this.lens = [...lens];
    this.starts = new Float64Array(lens.length + 1);
    for (let k = 0; k < lens.length; k++) this.starts[k + 1] = this.starts[k] + lens[k];
  }
  override toString(): string {
    return `docs(${this.lens.join(', ')})`;
  }
  get total(): number {
    return this.starts[this.lens.length];
  }
  /** the document holding x, or −1 */
  docOf(x: number): number {
    if (x < 0 || x >= this.total) return -1;
    return lowerBound(this.starts, x + 1) - 1;
  }
  allows(p: number, j: number): boolean {
    const d = this.docOf(p);
    return d >= 0 && d === this.docOf(j);
  }
  /** [first, last] documents met by positions [a, b), or null */
  private span(a: number, b: number): [number, number] | null {
    a = Math.max(a, 0);
    b = Math.min(b, this.total);
    return a < b ? [this.docOf(a), this.docOf(b - 1)] : null;
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    const P = this.span(p0, p1);
    const J = this.span(j0, j1);
    if (P === null || J === null || P[1] < J[0] || J[1] < P[0]) return EMPTY;
    const inside = p0 >= 0 && j0 >= 0 && p1 <= this.total && j1 <= this.total;
    return inside && P[0] === P[1] && J[0] === J[1] && P[0] === J[0] ? FULL : PARTIAL;
  }
  override keyRanges(p0: number, p1: number): Ranges {
    const P = this.span(p0, p1);
    return P === null ? [] : [this.starts[P[0]], this.starts[P[1] + 1]];
  }
  override runEnd(c: TileClass, p0: number, p1: number, j0: number): number {
    if (c === EMPTY) {
      const P = this.span(p0, p1);
      if (P === null || j0 >= this.starts[P[1] + 1]) return Infinity;
    }
    return j0 + 1;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const C = j1 - j0;
    for (let p = p0, row = 0; p < p1; p++, row += wpr) {
      const d = this.docOf(p);
      if (d < 0) continue;
      setBits(buf, row, Math.max(this.starts[d] - j0, 0), Math.min(this.starts[d + 1] - j0, C));
    }
  }
}

/** `prefix(n)` (prefix LM): the first n keys are read bidirectionally, the rest causally — j < n or j ≤ p. */
export class PrefixPattern extends PatternNode {
  constructor(readonly n: number) {
    super();
    checkInt('prefix', 'n', 0, n, 0);
  }
  override toString(): string {
    return `prefix(${this.n})`;
  }
  allows(p: number, j: number): boolean {
    return j < this.n || j <= p;
  }
  classify(p0: number, p1: number, j0: number, j1: number): TileClass {
    // columns [j0, min(j1, n)) are always allowed; columns [max(j0, n), j1) need j ≤ p
    const c0 = Math.max(j0, this.n);
    if (c0 >= j1 || j1 - 1 <= p0) return FULL;
    if (j0 >= this.n && j0 > p1 - 1) return EMPTY;
    return PARTIAL;
  }
  override keyRanges(_p0: number, p1: number): Ranges {
    return [-Infinity, Math.max(this.n, p1)];
  }
  override runEnd(c: TileClass, p0: number, _p1: number, j0: number, W: number): number {
    if (c === FULL) return Math.max(this.n - W, p0 - W + 1) + 1;
    return c === EMPTY ? Infinity : j0 + 1;
  }
  override memoKey(p0: number, _p1: number, j0: number): number | undefined {
    return j0 >= this.n ? p0 - j0 : undefined;
  }
  override fill(buf: Uint32Array, wpr: number, p0: number, p1: number, j0: number, j1: number): void {
    const C = j1 - j0;
    for (let p = p0, row = 0; p < p1; p++, row += wpr) {
      setBits(buf, row, 0, Math.min(Math.max(this.n, p + 1) - j0, C));
    }
  }
}
