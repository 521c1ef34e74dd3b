/**
 * Exact neighborhoods N(p) of the built-in patterns, one query row at a time, as sorted interval
 * lists — computed from the pattern tree by interval arithmetic instead of compiling a block mask.
 * The analysis needs every row of every layer's pattern; for random patterns at 65536 tokens the
 * mask compiler spends seconds building bit tiles that the analysis would only read back, while a
 * row here costs O(intervals of the row's subtrees).
 *
 * Each node writes its row clipped to a window [ca, cb) ⊆ [0, seqLen): intersections and
 * differences pass the hull of what is already known down to their later parts, so
 * `causal & summary(2)` costs O(p/2) per row, not O(seqLen).
 *
 * Trees holding a node this file does not know (a user-written Pattern, or a primitive added
 * later) are not handled here: `neighborhoodReader` returns null and the caller reads rows from the
 * compiled mask instead (lib/analysis/rows.ts), which is exact for every pattern.
 */
import type { Pattern } from '../patterns/pattern.js';
import { lowerBound, PatternNode } from '../patterns/node.js';
import { DifferencePattern, IntersectPattern, PerHeadPattern, PresetPattern, UnionPattern } from '../patterns/combinators.js';
import {
  BlockPattern,
  CausalPattern,
  DilatedPattern,
  DocsPattern,
  FullPattern,
  GlobalPattern,
  GroupedPattern,
  LogPattern,
  PrefixPattern,
  SinkPattern,
  SlidingPattern,
  StridedPattern,
  SummaryPattern,
  WindowPattern,
} from '../patterns/primitives.js';
import { RandomBlocksPattern, RandomPattern } from '../patterns/random.js';
import { IntervalBuffer } from './rows.js';

/** Reads one query row's allowed keys into `out` (sorted, disjoint, non-adjacent); returns the count. */
export interface RowReader {
  read(i: number, out: IntervalBuffer): number;
}

/** Whether every node of the tree has an interval rule here (the head selects perHead parts). */
function supported(n: PatternNode, head: number): boolean {
  if (n instanceof UnionPattern || n instanceof IntersectPattern) return n.parts.every((q) => supported(q, head));
  if (n instanceof DifferencePattern) return supported(n.a, head) && supported(n.b, head);
  if (n instanceof PerHeadPattern) return supported(perHeadPart(n, head), head);
  if (n instanceof PresetPattern) return supported(n.expansion, head);
  return (
    n instanceof FullPattern ||
    n instanceof CausalPattern ||
    n instanceof WindowPattern ||
    n instanceof SlidingPattern ||
    n instanceof StridedPattern ||
    n instanceof DilatedPattern ||
    n instanceof GroupedPattern ||
    n instanceof LogPattern ||
    n instanceof SummaryPattern ||
    n instanceof SinkPattern ||
    n instanceof GlobalPattern ||
    n instanceof BlockPattern ||
    n instanceof DocsPattern ||
    n instanceof PrefixPattern ||
    n instanceof RandomPattern ||
    n instanceof RandomBlocksPattern
  );
}

function perHeadPart(n: PerHeadPattern, head: number): PatternNode {
  const k = n.parts.length;
  return n.parts[((head % k) + k) % k];
}

/** Row reader for a tree of built-in nodes. */
class AlgebraRows implements RowReader {
  /** scratch buffers, used as a stack by the combinators */
  private readonly pool: IntervalBuffer[] = [];
  private used = 0;
  /** document starts of DocsPattern nodes */
  private readonly docStarts = new Map<DocsPattern, Float64Array>();

  constructor(
    private readonly root: PatternNode,
    private readonly seqLen: number,
    private readonly head: number,
  ) {}

  read(i: number, out: IntervalBuffer): number {
    out.clear();
    this.row(this.root, i, 0, this.seqLen, out);
    return out.n;
  }

  private take(): IntervalBuffer {
    if (this.used === this.pool.length) this.pool.push(new IntervalBuffer(16));
    const b = this.pool[this.used++];
    b.clear();
    return b;
  }

  private give(): void {
    this.used--;
  }

  /** Appends N(p) ∩ [ca, cb) to `out` (out must be empty or end before ca). */
  private row(n: PatternNode, p: number, ca: number, cb: number, out: IntervalBuffer): void {
    if (ca >= cb) return;
    if (n instanceof CausalPattern || n instanceof WindowPattern || n instanceof SlidingPattern) {
      // p − j ∈ [lo, hi]
      out.push(Math.max(ca, p - n.hi), Math.min(cb, p - n.lo + 1));
    } else if (n instanceof StridedPattern || n instanceof DilatedPattern || n instanceof GroupedPattern) {
      this.progression(n.base, n.step, n.last, p, ca, cb, out);
    } else if (n instanceof FullPattern) {
      out.push(ca, cb);
    } else if (n instanceof LogPattern) {
      // keys p − 2^k (ascending as k falls), then p itself
      let d = 1;
      while (d * 2 <= p - ca) d *= 2;
      for (; d >= 1; d /= 2) {
        const j = p - d;
        if (j >= ca && j < cb) out.push(j, j + 1);
      }
      if (p >= ca && p < cb) out.push(p, p + 1);
    } else if (n instanceof SummaryPattern) {
      // columns j with j mod s ≥ s − c: [q·s + s − c, q·s + s) for every block q
      const { s, c } = n;
      for (let q = Math.floor(ca / s); q * s < cb; q++) out.push(Math.max(ca, q * s + s - c), Math.min(cb, q * s + s));
    } else if (n instanceof SinkPattern) {
      out.push(ca, Math.min(cb, n.n));
    } else if (n instanceof GlobalPattern) {
      const g = n.g;
      const k = lowerBound(g, p);
      if (k < g.length && g[k] === p) out.push(ca, cb);
      else for (let x = lowerBound(g, ca); x < g.length && g[x] < cb; x++) out.push(g[x], g[x] + 1);
    } else if (n instanceof BlockPattern) {
      const s = Math.floor(p / n.b) * n.b;
      out.push(Math.max(ca, s), Math.min(cb, s + n.b));
    } else if (n instanceof DocsPattern) {
      let starts = this.docStarts.get(n);
      if (starts === undefined) {
        starts = new Float64Array(n.lens.length + 1);
        for (let k = 0; k < n.lens.length; k++) starts[k + 1] = starts[k] + n.lens[k];
        this.docStarts.set(n, starts);
      }
      const d = n.docOf(p);
      if (d >= 0) out.push(Math.max(ca, starts[d]), Math.min(cb, starts[d + 1]));
    } else if (n instanceof PrefixPattern) {
      out.push(ca, Math.min(cb, Math.max(n.n, p + 1)));
    } else if (n instanceof RandomPattern) {
      if (p < 0) return;
      const keys = n.keysOf(p);
      for (let x = lowerBound(keys, ca); x < keys.length && keys[x] < cb; x++) out.push(keys[x], keys[x] + 1);
    } else if (n instanceof RandomBlocksPattern) {
      if (p < 0) return;
      const b = n.b;
      const blocks = n.blocksOf(Math.floor(p / b));
      for (let x = lowerBound(blocks, Math.floor(ca / b)); x < blocks.length && blocks[x] * b < cb; x++) {
        out.push(Math.max(ca, blocks[x] * b), Math.min(cb, (blocks[x] + 1) * b));
      }
    } else if (n instanceof UnionPattern) {
      this.union(n.parts, p, ca, cb, out);
    } else if (n instanceof IntersectPattern) {
      this.intersect(n.parts, p, ca, cb, out);
    } else if (n instanceof DifferencePattern) {
      this.difference(n.a, n.b, p, ca, cb, out);
    } else if (n instanceof PerHeadPattern) {
      this.row(perHeadPart(n, this.head), p, ca, cb, out);
    } else if (n instanceof PresetPattern) {
      this.row(n.expansion, p, ca, cb, out);
    } else {
      throw new Error(`analyze: no interval rule for ${n.toString()}`);
    }
  }

  /** keys p − d for d = base + k·step ≤ last */
  private progression(base: number, step: number, last: number, p: number, ca: number, cb: number, out: IntervalBuffer): void {
    const dmin = Math.max(base, p - cb + 1);
    const dmax = Math.min(last, p - ca);
    if (dmin > dmax) return;
    if (step === 1) {
      out.push(p - dmax, p - dmin + 1);
      return;
    }
    // the largest d ≤ dmax on the progression, then downwards (keys ascending)
    const top = base + Math.floor((dmax - base) / step) * step;
    for (let d = top; d >= dmin; d -= step) out.push(p - d, p - d + 1);
  }

  private union(parts: readonly PatternNode[], p: number, ca: number, cb: number, out: IntervalBuffer): void {
    let acc = this.take();
    this.row(parts[0], p, ca, cb, acc);
    let tmp = this.take();
    const part = this.take();
    for (let k = 1; k < parts.length; k++) {
      part.clear();
      this.row(parts[k], p, ca, cb, part);
      tmp.clear();
      mergeUnion(acc, part, tmp);
      [acc, tmp] = [tmp, acc];
    }
    copyInto(acc, out);
    this.give();
    this.give();
    this.give();
  }

  private intersect(parts: readonly PatternNode[], p: number, ca: number, cb: number, out: IntervalBuffer): void {
    let acc = this.take();
    this.row(parts[0], p, ca, cb, acc);
    let tmp = this.take();
    const part = this.take();
    for (let k = 1; k < parts.length && acc.n > 0; k++) {
      part.clear();
      this.row(parts[k], p, acc.lo[0], acc.hi[acc.n - 1], part);
      tmp.clear();
      mergeIntersect(acc, part, tmp);
      [acc, tmp] = [tmp, acc];
    }
    copyInto(acc, out);
    this.give();
    this.give();
    this.give();
  }

  private difference(a: PatternNode, b: PatternNode, p: number, ca: number, cb: number, out: IntervalBuffer): void {
    const A = this.take();
    this.row(a, p, ca, cb, A);
    const B = this.take();
    if (A.n > 0) this.row(b, p, A.lo[0], A.hi[A.n - 1], B);
    mergeDifference(A, B, out);
    this.give();
    this.give();
  }
}

function copyInto(src: IntervalBuffer, out: IntervalBuffer): void {
  for (let k = 0; k < src.n; k++) out.push(src.lo[k], src.hi[k]);
}

/** out ← a ∪ b */
function mergeUnion(a: IntervalBuffer, b: IntervalBuffer, out: IntervalBuffer): void {
  let i = 0;
  let k = 0;
  let curLo = 0;
  let curHi = -1;
  let open = false;
  while (i < a.n || k < b.n) {
    let lo: number;
    let hi: number;
    if (k >= b.n || (i < a.n && a.lo[i] <= b.lo[k])) {
      lo = a.lo[i];
      hi = a.hi[i++];
    } else {
      lo = b.lo[k];
      hi = b.hi[k++];
    }
    if (open && lo <= curHi) {
      if (hi > curHi) curHi = hi;
    } else {
      if (open) out.push(curLo, curHi);
      curLo = lo;
      curHi = hi;
      open = true;
    }
  }
  if (open) out.push(curLo, curHi);
}

/** out ← a ∩ b */
function mergeIntersect(a: IntervalBuffer, b: IntervalBuffer, out: IntervalBuffer): void {
  let i = 0;
  let k = 0;
  while (i < a.n && k < b.n) {
    const lo = Math.max(a.lo[i], b.lo[k]);
    const hi = Math.min(a.hi[i], b.hi[k]);
    if (lo < hi) out.push(lo, hi);
    if (a.hi[i] < b.hi[k]) i++;
    else k++;
  }
}

/** out ← a ∖ b (out appended to) */
function mergeDifference(a: IntervalBuffer, b: IntervalBuffer, out: IntervalBuffer): void {
  let k = 0;
  for (let i = 0; i < a.n; i++) {
    let lo = a.lo[i];
    const hi = a.hi[i];
    while (k < b.n && b.hi[k] <= lo) k++;
    let m = k;
    while (m < b.n && b.lo[m] < hi) {
      if (b.lo[m] > lo) out.push(lo, b.lo[m]);
      lo = Math.max(lo, b.hi[m]);
      m++;
    }
    if (lo < hi) out.push(lo, hi);
  }
}

/**
 * A reader of the exact rows of `pattern` for one head at seqQ = seqK = seqLen, or null when the
 * tree holds a node without an interval rule (read those rows from the compiled mask).
 */
export function neighborhoodReader(pattern: Pattern, seqLen: number, head: number): RowReader | null {
  if (!(pattern instanceof PatternNode) || !supported(pattern, head)) return null;
  return new AlgebraRows(pattern, seqLen, head);
}
