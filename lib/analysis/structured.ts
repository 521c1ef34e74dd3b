/**
 * Exact receptive fields of every query for stacks whose every pattern has one of two structures,
 * checked exactly on every row by scanLayer:
 *
 *  - translation-invariant causal: N(i) = { i − d : d ∈ D, d ≤ i } for one offset set D per
 *    pattern (sliding, causal, log, dilated, strided and their unions and intersections). A path
 *    from i only moves left by offsets, so RF_l(i) = { i − s : s ∈ S_l, s ≤ i } with
 *    S_l = S_{l−1} ⊕ (D_l ∪ {0}) (a sumset; S_0 = {0}). S is a bitset over [0, T); a sumset is the
 *    union, over the runs [a, b) of whichever side has fewer runs, of the other side shifted by a
 *    and dilated by b − a (log₂(b − a) shift-ors): O(T/32 · Σ runs · log) per layer. Then
 *    |RF_l(i)| = |S_l ∩ [0, i]|: the last query has |S_l|, the smallest field is RF_l(0) = {0},
 *    and the worst coverage is min_i |S_l ∩ [0, i]| / (i + 1), one O(T) prefix count per layer.
 *  - intervals: every N(i) ∪ {i} is one interval [L_i, R_i] (window, block, docs, prefix, full,
 *    causal, …). Then every RF_l(i) is an interval containing i (a union of intervals that contain
 *    consecutive j's leaves no gap): RF_l(i) = [min_{j∈[L_i,R_i]} lo_{l−1}(j), max … hi_{l−1}(j)],
 *    a sliding-window minimum (monotone deque, O(T)) when L and R are non-decreasing, a sparse
 *    table (O(T log T)) otherwise, per layer.
 */
import type { LayerStepper } from './flow.js';

/** Sets bits [a, b) of a bitset. */
function setRange(x: Uint32Array, a: number, b: number): void {
  for (let c = a; c < b; ) {
    const w = c >>> 5;
    const off = c & 31;
    const n = Math.min(32 - off, b - c);
    x[w] |= (n === 32 ? 0xffffffff : ((1 << n) - 1) << off) >>> 0;
    c += n;
  }
}

/** dst ← src shifted up by a bits (bit c of src lands at c + a), truncated to the array. */
function shiftUp(src: Uint32Array, a: number, dst: Uint32Array): void {
  const W = src.length;
  const ws = a >>> 5;
  const bs = a & 31;
  for (let i = W - 1; i >= 0; i--) {
    const k = i - ws;
    if (k < 0) {
      dst[i] = 0;
      continue;
    }
    dst[i] = bs === 0 ? src[k] : ((src[k] << bs) | (k > 0 ? src[k - 1] >>> (32 - bs) : 0)) >>> 0;
  }
}

/** x ← x | x<<1 | … | x<<(len−1), in place (doubling). */
function dilate(x: Uint32Array, len: number): void {
  const W = x.length;
  for (let cur = 1; cur < len; ) {
    const s = Math.min(cur, len - cur);
    const ws = s >>> 5;
    const bs = s & 31;
    // descending, so every read sees the value before this pass
    for (let i = W - 1; i >= ws; i--) {
      const k = i - ws;
      x[i] |= bs === 0 ? x[k] : (x[k] << bs) | (k > 0 ? x[k - 1] >>> (32 - bs) : 0);
    }
    cur += s;
  }
}

/** The runs [a, b) of set bits below `limit`. */
function runsOf(x: Uint32Array, limit: number): number[] {
  const out: number[] = [];
  let start = -1;
  for (let c = 0; c < limit; c++) {
    const on = (x[c >>> 5] >>> (c & 31)) & 1;
    if (on && start < 0) start = c;
    else if (!on && start >= 0) {
      out.push(start, c);
      start = -1;
    }
  }
  if (start >= 0) out.push(start, limit);
  return out;
}

export function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Receptive fields of a stack of translation-invariant causal patterns (offset sets as intervals). */
export class ToeplitzStepper implements LayerStepper {
  private S: Uint32Array;
  private next: Uint32Array;
  private readonly tmp: Uint32Array;
  /** per entry: D ∪ {0} as a bitset and as runs */
  private readonly dBits: Uint32Array[];
  private readonly dRuns: number[][];

  constructor(
    private readonly T: number,
    offsets: { lo: Int32Array; hi: Int32Array }[],
  ) {
    const W = Math.ceil(T / 32);
    this.S = new Uint32Array(W);
    this.S[0] = 1;
    this.next = new Uint32Array(W);
    this.tmp = new Uint32Array(W);
    this.dBits = offsets.map((d) => {
      const x = new Uint32Array(W);
      x[0] = 1;
      for (let k = 0; k < d.lo.length; k++) setRange(x, d.lo[k], Math.min(d.hi[k], T));
      return x;
    });
    this.dRuns = this.dBits.map((x) => runsOf(x, T));
  }

  step(entry: number): boolean {
    const { S, next, tmp, T } = this;
    const sRuns = runsOf(S, T);
    const dRuns = this.dRuns[entry];
    // S ⊕ D = ⋃ over runs [a, b) of one side of (other side << a) dilated by b − a
    const [runs, other] = sRuns.length <= dRuns.length ? [sRuns, this.dBits[entry]] : [dRuns, S];
    next.fill(0);
    for (let r = 0; r < runs.length; r += 2) {
      shiftUp(other, runs[r], tmp);
      dilate(tmp, runs[r + 1] - runs[r]);
      for (let i = 0; i < next.length; i++) next[i] |= tmp[i];
    }
    const tail = T & 31;
    if (tail !== 0) next[next.length - 1] &= (1 << tail) - 1;
    let grew = false;
    for (let i = 0; i < next.length; i++) {
      if (next[i] !== S[i]) {
        grew = true;
        break;
      }
    }
    this.S = next;
    this.next = S;
    return grew;
  }

  record(): { last: number; min: number; minCoverage: number } {
    const { S, T } = this;
    let count = 0;
    let worst = 1;
    for (let w = 0; w * 32 < T; w++) {
      const x = S[w];
      const n = Math.min(32, T - w * 32);
      if (x === 0) {
        // an empty word only lowers coverage: its last bit is the worst of it
        const c = count / (w * 32 + n);
        if (c < worst) worst = c;
        continue;
      }
      if (x === 0xffffffff) {
        // a full word only raises coverage: its first bit is the worst of it
        count += 1;
        const c = count / (w * 32 + 1);
        if (c < worst) worst = c;
        count += n - 1;
        continue;
      }
      for (let b = 0; b < n; b++) {
        count += (x >>> b) & 1;
        const c = count / (w * 32 + b + 1);
        if (c < worst) worst = c;
      }
    }
    let last = 0;
    for (let w = 0; w < S.length; w++) last += popcount32(S[w]);
    return { last, min: 1, minCoverage: worst };
  }
}

/** dst[i] = min (or max) of src over [L[i], R[i]], L and R non-decreasing: monotone deque. */
function windowExtremeMonotone(src: Int32Array, L: Int32Array, R: Int32Array, dst: Int32Array, isMin: boolean, dq: Int32Array): void {
  const T = src.length;
  let h = 0;
  let t = 0;
  let next = 0;
  for (let i = 0; i < T; i++) {
    const r = R[i];
    while (next <= r) {
      const v = src[next];
      if (isMin) while (t > h && src[dq[t - 1]] >= v) t--;
      else while (t > h && src[dq[t - 1]] <= v) t--;
      dq[t++] = next++;
    }
    const l = L[i];
    while (dq[h] < l) h++;
    dst[i] = src[dq[h]];
  }
}

/** dst[i] = min (or max) of src over [L[i], R[i]] for arbitrary ranges: sparse table. */
function windowExtremeSparse(src: Int32Array, L: Int32Array, R: Int32Array, dst: Int32Array, isMin: boolean, table: Int32Array[]): void {
  const T = src.length;
  table[0].set(src);
  for (let k = 1; k < table.length; k++) {
    const prev = table[k - 1];
    const cur = table[k];
    const half = 1 << (k - 1);
    const n = T - (1 << k) + 1;
    for (let i = 0; i < n; i++) {
      const a = prev[i];
      const b = prev[i + half];
      cur[i] = isMin ? (a < b ? a : b) : a > b ? a : b;
    }
  }
  for (let i = 0; i < T; i++) {
    const l = L[i];
    const r = R[i];
    const k = 31 - Math.clz32(r - l + 1);
    const row = table[k];
    const a = row[l];
    const b = row[r - (1 << k) + 1];
    dst[i] = isMin ? (a < b ? a : b) : a > b ? a : b;
  }
}

/** Receptive fields of a stack of interval patterns: RF_l(i) = [lo(i), hi(i)]. */
export class IntervalStepper implements LayerStepper {
  private lo: Int32Array;
  private hi: Int32Array;
  private nlo: Int32Array;
  private nhi: Int32Array;
  private readonly dq: Int32Array;
  private table: Int32Array[] | null = null;

  constructor(
    private readonly T: number,
    private readonly entries: { L: Int32Array; R: Int32Array; monotone: boolean }[],
  ) {
    this.lo = new Int32Array(T);
    this.hi = new Int32Array(T);
    for (let i = 0; i < T; i++) this.lo[i] = this.hi[i] = i;
    this.nlo = new Int32Array(T);
    this.nhi = new Int32Array(T);
    this.dq = new Int32Array(T);
  }

  step(entry: number): boolean {
    const { L, R, monotone } = this.entries[entry];
    if (monotone) {
      windowExtremeMonotone(this.lo, L, R, this.nlo, true, this.dq);
      windowExtremeMonotone(this.hi, L, R, this.nhi, false, this.dq);
    } else {
      if (this.table === null) {
        this.table = [];
        for (let k = 0; k < 32 - Math.clz32(this.T); k++) this.table.push(new Int32Array(this.T));
      }
      windowExtremeSparse(this.lo, L, R, this.nlo, true, this.table);
      windowExtremeSparse(this.hi, L, R, this.nhi, false, this.table);
    }
    let grew = false;
    for (let i = 0; i < this.T; i++) {
      if (this.nlo[i] !== this.lo[i] || this.nhi[i] !== this.hi[i]) {
        grew = true;
        break;
      }
    }
    [this.lo, this.nlo] = [this.nlo, this.lo];
    [this.hi, this.nhi] = [this.nhi, this.hi];
    return grew;
  }

  record(): { last: number; min: number; minCoverage: number } {
    const { lo, hi, T } = this;
    let min = Infinity;
    let worst = 1;
    for (let i = 0; i < T; i++) {
      const s = hi[i] - lo[i] + 1;
      if (s < min) min = s;
      const c = (Math.min(hi[i], i) - lo[i] + 1) / (i + 1);
      if (c < worst) worst = c;
    }
    return { last: hi[T - 1] - lo[T - 1] + 1, min, minCoverage: worst };
  }
}
