/**
 * Combinators (union, intersection, difference, perHead), named presets, and the wrapper that lets
 * user-written Pattern objects take part in the algebra.
 */
import type { Pattern, TileClass } from './pattern.js';
import {
  EMPTY,
  FULL,
  ID_EMPTY,
  ID_FULL,
  MAX_PATTERN_DEPTH,
  PARTIAL,
  PatternNode,
  intersectRanges,
  lcm,
  unionRanges,
  type Ranges,
  type TileCtx,
} from './node.js';
import { rangeArg } from './errors.js';

/** Binding strength when printing: atoms and calls 3, `&` 2, `|` and `-` 1. */
export function precedence(p: PatternNode): number {
  if (p instanceof UnionPattern || p instanceof DifferencePattern) return 1;
  if (p instanceof IntersectPattern) return 2;
  return 3;
}

function wrap(p: PatternNode, minPrec: number): string {
  const s = p.toString();
  return precedence(p) < minPrec ? `(${s})` : s;
}

/** 1 + the deepest of `parts`; a RangeError of `fn` past MAX_PATTERN_DEPTH. */
function depthOf(fn: string, parts: readonly PatternNode[]): number {
  let d = 0;
  for (const p of parts) d = Math.max(d, p.treeDepth);
  if (d + 1 > MAX_PATTERN_DEPTH) {
    throw rangeArg(
      fn,
      `patterns may nest at most ${MAX_PATTERN_DEPTH} levels deep (a - (b | c | …) nests less than a - b - c - …)`,
      -1,
      `a pattern nested at most ${MAX_PATTERN_DEPTH} levels deep`,
    );
  }
  return d + 1;
}

function periodOf(parts: readonly PatternNode[]): number {
  let n = 1;
  for (const p of parts) n = lcm(n, p.headPeriod);
  return n;
}

/** `a | b | …`: keys allowed by any part. */
export class UnionPattern extends PatternNode {
  readonly parts: readonly PatternNode[];
  private readonly period: number;
  private readonly depth: number;
  constructor(parts: readonly PatternNode[]) {
    super();
    const flat: PatternNode[] = [];
    for (const p of parts) {
      if (p instanceof UnionPattern) flat.push(...p.parts);
      else flat.push(p);
    }
    if (flat.length < 2) throw rangeArg('union', 'needs at least two patterns', -1, 'a pattern');
    this.depth = depthOf('union', flat);
    this.parts = flat;
    this.period = periodOf(flat);
  }
  override get headPeriod(): number {
    return this.period;
  }
  override get treeDepth(): number {
    return this.depth;
  }
  override get cacheable(): boolean {
    return this.parts.every((p) => p.cacheable);
  }
  override toString(): string {
    // `|` and `-` share a level and associate left: a difference needs parentheses unless first
    return this.parts.map((p, i) => wrap(p, i === 0 ? 1 : 2)).join(' | ');
  }
  allows(p: number, j: number, h: number): boolean {
    for (const q of this.parts) if (q.allows(p, j, h)) return true;
    return false;
  }
  classify(p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
    let any = false;
    for (const q of this.parts) {
      const c = q.classify(p0, p1, j0, j1, h);
      if (c === FULL) return FULL;
      if (c !== EMPTY) any = true;
    }
    return any ? PARTIAL : EMPTY;
  }
  override keyRanges(p0: number, p1: number, h: number): Ranges {
    const lists: Ranges[] = [];
    for (const q of this.parts) {
      const r = q.keyRanges(p0, p1, h);
      if (r === null) return null;
      lists.push(r);
    }
    return unionRanges(lists);
  }
  override tile(ctx: TileCtx, p0: number, p1: number, j0: number, j1: number, h: number): number {
    let acc = ID_EMPTY;
    for (const q of this.parts) {
      const id = q.tile(ctx, p0, p1, j0, j1, h);
      if (id === ID_FULL) return ID_FULL;
      if (id === ID_EMPTY) continue;
      acc = acc === ID_EMPTY ? id : ctx.or(acc, id);
      if (acc === ID_FULL) return ID_FULL;
    }
    return acc;
  }
}

/** `a & b & …`: keys allowed by every part. */
export class IntersectPattern extends PatternNode {
  readonly parts: readonly PatternNode[];
  private readonly period: number;
  private readonly depth: number;
  constructor(parts: readonly PatternNode[]) {
    super();
    const flat: PatternNode[] = [];
    for (const p of parts) {
      if (p instanceof IntersectPattern) flat.push(...p.parts);
      else flat.push(p);
    }
    if (flat.length < 2) throw rangeArg('intersect', 'needs at least two patterns', -1, 'a pattern');
    this.depth = depthOf('intersect', flat);
    this.parts = flat;
    this.period = periodOf(flat);
  }
  override get headPeriod(): number {
    return this.period;
  }
  override get treeDepth(): number {
    return this.depth;
  }
  override get cacheable(): boolean {
    return this.parts.every((p) => p.cacheable);
  }
  override toString(): string {
    return this.parts.map((p) => wrap(p, 2)).join(' & ');
  }
  allows(p: number, j: number, h: number): boolean {
    for (const q of this.parts) if (!q.allows(p, j, h)) return false;
    return true;
  }
  classify(p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
    let all = true;
    for (const q of this.parts) {
      const c = q.classify(p0, p1, j0, j1, h);
      if (c === EMPTY) return EMPTY;
      if (c !== FULL) all = false;
    }
    return all ? FULL : PARTIAL;
  }
  override keyRanges(p0: number, p1: number, h: number): Ranges {
    let acc: Ranges = null;
    for (const q of this.parts) {
      acc = intersectRanges(acc, q.keyRanges(p0, p1, h));
      if (acc !== null && acc.length === 0) break;
    }
    return acc;
  }
  override tile(ctx: TileCtx, p0: number, p1: number, j0: number, j1: number, h: number): number {
    // cheap classifications first, so that an empty part stops the walk before any content is built
    // (its tile() call sets the run bound and returns ID_EMPTY)
    for (const q of this.parts) if (q.classify(p0, p1, j0, j1, h) === EMPTY) return q.tile(ctx, p0, p1, j0, j1, h);
    let acc = ID_FULL;
    for (const q of this.parts) {
      const id = q.tile(ctx, p0, p1, j0, j1, h);
      if (id === ID_EMPTY) return ID_EMPTY;
      if (id === ID_FULL) continue;
      acc = acc === ID_FULL ? id : ctx.and(acc, id);
      if (acc === ID_EMPTY) return ID_EMPTY;
    }
    return acc;
  }
}

/** `a - b`: keys allowed by a and not by b. */
export class DifferencePattern extends PatternNode {
  private readonly period: number;
  private readonly depth: number;
  constructor(
    readonly a: PatternNode,
    readonly b: PatternNode,
  ) {
    super();
    this.depth = depthOf('difference', [a, b]);
    this.period = lcm(a.headPeriod, b.headPeriod);
  }
  override get headPeriod(): number {
    return this.period;
  }
  override get treeDepth(): number {
    return this.depth;
  }
  override get cacheable(): boolean {
    return this.a.cacheable && this.b.cacheable;
  }
  override toString(): string {
    return `${wrap(this.a, 1)} - ${wrap(this.b, 2)}`;
  }
  allows(p: number, j: number, h: number): boolean {
    return this.a.allows(p, j, h) && !this.b.allows(p, j, h);
  }
  classify(p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
    const ca = this.a.classify(p0, p1, j0, j1, h);
    if (ca === EMPTY) return EMPTY;
    const cb = this.b.classify(p0, p1, j0, j1, h);
    if (cb === FULL) return EMPTY;
    return ca === FULL && cb === EMPTY ? FULL : PARTIAL;
  }
  override keyRanges(p0: number, p1: number, h: number): Ranges {
    return this.a.keyRanges(p0, p1, h);
  }
  override tile(ctx: TileCtx, p0: number, p1: number, j0: number, j1: number, h: number): number {
    const ia = this.a.tile(ctx, p0, p1, j0, j1, h);
    if (ia === ID_EMPTY) return ID_EMPTY;
    const ib = this.b.tile(ctx, p0, p1, j0, j1, h);
    if (ib === ID_EMPTY) return ia;
    if (ib === ID_FULL) return ID_EMPTY;
    return ctx.andNot(ia, ib);
  }
}

/**
 * `perHead(p0, p1, …)`: head h uses part h mod n, which is asked about head h itself (so a part
 * that is itself per-head sees the real head index). Its head period is the lcm of n and the
 * parts' periods.
 */
export class PerHeadPattern extends PatternNode {
  readonly parts: readonly PatternNode[];
  private readonly period: number;
  private readonly depth: number;
  constructor(parts: readonly PatternNode[]) {
    super();
    if (parts.length === 0) throw rangeArg('perHead', 'needs at least one pattern', -1, 'a pattern');
    this.depth = depthOf('perHead', parts);
    this.parts = [...parts];
    this.period = lcm(parts.length, periodOf(parts));
  }
  override get headPeriod(): number {
    return this.period;
  }
  override get treeDepth(): number {
    return this.depth;
  }
  override get cacheable(): boolean {
    return this.parts.every((p) => p.cacheable);
  }
  override toString(): string {
    return `perHead(${this.parts.map(String).join(', ')})`;
  }
  private part(h: number): PatternNode {
    const n = this.parts.length;
    return this.parts[((h % n) + n) % n];
  }
  allows(p: number, j: number, h: number): boolean {
    return this.part(h).allows(p, j, h);
  }
  classify(p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
    return this.part(h).classify(p0, p1, j0, j1, h);
  }
  override keyRanges(p0: number, p1: number, h: number): Ranges {
    return this.part(h).keyRanges(p0, p1, h);
  }
  override tile(ctx: TileCtx, p0: number, p1: number, j0: number, j1: number, h: number): number {
    return this.part(h).tile(ctx, p0, p1, j0, j1, h);
  }
}

/**
 * A named preset: prints as its call (`streaming(4, 1024)`), behaves as its expansion.
 */
export class PresetPattern extends PatternNode {
  constructor(
    readonly name: string,
    readonly args: readonly number[],
    readonly expansion: PatternNode,
  ) {
    super();
  }
  override get headPeriod(): number {
    return this.expansion.headPeriod;
  }
  override get treeDepth(): number {
    return this.expansion.treeDepth + 1;
  }
  override toString(): string {
    return `${this.name}(${this.args.join(', ')})`;
  }
  allows(p: number, j: number, h: number): boolean {
    return this.expansion.allows(p, j, h);
  }
  classify(p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
    return this.expansion.classify(p0, p1, j0, j1, h);
  }
  override keyRanges(p0: number, p1: number, h: number): Ranges {
    return this.expansion.keyRanges(p0, p1, h);
  }
  override tile(ctx: TileCtx, p0: number, p1: number, j0: number, j1: number, h: number): number {
    return this.expansion.tile(ctx, p0, p1, j0, j1, h);
  }
}

/**
 * A user-written Pattern inside the algebra: its own allows/classify are trusted (Empty and Full
 * exact, as the interface demands), partial tiles are evaluated element by element, and masks built
 * from it are not cached (its toString is not known to be canonical).
 */
export class ForeignPattern extends PatternNode {
  constructor(readonly inner: Pattern) {
    super();
  }
  override get headPeriod(): number {
    return this.inner.headPeriod;
  }
  override get cacheable(): boolean {
    return false;
  }
  override toString(): string {
    return this.inner.toString();
  }
  allows(p: number, j: number, h: number): boolean {
    return this.inner.allows(p, j, h);
  }
  classify(p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
    const c = this.inner.classify(p0, p1, j0, j1, h);
    return c === EMPTY || c === FULL ? c : PARTIAL;
  }
}
