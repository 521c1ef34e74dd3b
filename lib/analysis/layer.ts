/**
 * One layer's pattern, read once row by row: its edge count and neighborhood sizes, the elements
 * computed in the tiles a backend visits, and the structure the fast receptive-field methods need
 * (a translation-invariant causal offset set, or one interval per row). The rows are kept (as a
 * CSR of key intervals) while they fit a shared budget, and read again from their source otherwise.
 */
import type { Pattern } from '../patterns/pattern.js';
import { compileMask } from '../mask/index.js';
import { IntervalBuffer, MaskRows } from './rows.js';
import { neighborhoodReader, type RowReader } from './neighborhoods.js';

/** Row access for the searches: after load(u), row u is lo[s..e) / hi[s..e). */
export interface RowSource {
  lo: Int32Array;
  hi: Int32Array;
  s: number;
  e: number;
  load(u: number): void;
}

class StoredRows implements RowSource {
  s = 0;
  e = 0;
  constructor(
    public lo: Int32Array,
    public hi: Int32Array,
    private readonly start: Int32Array,
  ) {}
  load(u: number): void {
    this.s = this.start[u];
    this.e = this.start[u + 1];
  }
}

/** Stored rows whose intervals are all single keys: only their starts are kept. */
class StoredKeys implements RowSource {
  lo = new Int32Array(16);
  hi = new Int32Array(16);
  s = 0;
  e = 0;
  constructor(
    private readonly keys: Int32Array,
    private readonly start: Int32Array,
  ) {}
  load(u: number): void {
    const a = this.start[u];
    const n = this.start[u + 1] - a;
    if (n > this.lo.length) {
      this.lo = new Int32Array(2 * n);
      this.hi = new Int32Array(2 * n);
    }
    for (let k = 0; k < n; k++) {
      const j = this.keys[a + k];
      this.lo[k] = j;
      this.hi[k] = j + 1;
    }
    this.e = n;
  }
}

class StreamedRows implements RowSource {
  lo: Int32Array;
  hi: Int32Array;
  s = 0;
  e = 0;
  private readonly buf = new IntervalBuffer(64);
  constructor(private readonly rows: RowReader) {
    this.lo = this.buf.lo;
    this.hi = this.buf.hi;
  }
  load(u: number): void {
    this.e = this.rows.read(u, this.buf);
    this.lo = this.buf.lo;
    this.hi = this.buf.hi;
  }
}

/** A budget of stored words (an interval takes two, a single key one) shared by the layers of one analysis. */
export class StorageBudget {
  constructor(public words: number) {}
}

export interface LayerScan {
  /** the pattern's canonical string */
  pattern: string;
  edges: number;
  minN: number;
  maxN: number;
  /** in-bounds elements of the tiles holding at least one edge (the tiles a backend computes) */
  computed: number;
  source: RowSource;
  /**
   * when every row is N(i) = { i − d : d ∈ D, d ≤ i } for one offset set D: D as sorted disjoint
   * half-open intervals of offsets (from the last row); else null
   */
  offsets: { lo: Int32Array; hi: Int32Array } | null;
  /** [L_i, R_i] = N(i) ∪ {i} when every such union is one interval, else null */
  intervals: { L: Int32Array; R: Int32Array; monotone: boolean } | null;
}

/** Rows of `pattern` for `head`: by interval rules when the tree allows, else from the compiled mask. */
export function rowReader(pattern: Pattern, seqLen: number, head: number, tile: { blockQ: number; blockK: number }): RowReader {
  const direct = neighborhoodReader(pattern, seqLen, head);
  if (direct !== null) return direct;
  const period = pattern.headPeriod > 1 ? pattern.headPeriod : 1;
  const mask = compileMask(pattern, { seqQ: seqLen, seqK: seqLen, heads: period > 1 ? (head % period) + 1 : 1, ...tile });
  return new MaskRows(mask, head % period);
}

/** Reads every row of one layer's pattern once. */
export function scanLayer(
  pattern: Pattern,
  T: number,
  head: number,
  tile: { blockQ: number; blockK: number },
  budget: StorageBudget,
): LayerScan {
  const rows = rowReader(pattern, T, head, tile);
  const buf = new IntervalBuffer(64);
  // the last row's intervals: the offset set D of a translation-invariant causal pattern
  const m = rows.read(T - 1, buf);
  const lastLo = buf.lo.slice(0, m);
  const lastHi = buf.hi.slice(0, m);
  let k0 = m; // first interval of the last row that survives the shift of the current row

  let storing = true;
  let unit = true; // every interval so far is a single key
  let ilo = new Int32Array(Math.max(16, Math.min(1 << 16, budget.words)));
  let ihi = new Int32Array(ilo.length);
  const start = new Int32Array(T + 1);
  let stored = 0;

  let edges = 0;
  let minN = Infinity;
  let maxN = 0;
  let toeplitz = true;
  let isInterval = true;
  let monotone = true;
  const L = new Int32Array(T);
  const R = new Int32Array(T);

  // tiles: a key block is visited by query block qb when one of its rows reads into it
  const { blockQ, blockK } = tile;
  const stamp = new Int32Array(Math.ceil(T / blockK)).fill(-1);
  let computed = 0;

  for (let i = 0; i < T; i++) {
    const n = rows.read(i, buf);
    const lo = buf.lo;
    const hi = buf.hi;
    let size = 0;
    for (let k = 0; k < n; k++) size += hi[k] - lo[k];
    edges += size;
    if (size < minN) minN = size;
    if (size > maxN) maxN = size;

    const qb = (i / blockQ) | 0;
    const rowsInBlock = Math.min(blockQ, T - qb * blockQ);
    for (let k = 0; k < n; k++) {
      const last = ((hi[k] - 1) / blockK) | 0;
      for (let kb = (lo[k] / blockK) | 0; kb <= last; kb++) {
        if (stamp[kb] === qb) continue;
        stamp[kb] = qb;
        computed += rowsInBlock * (Math.min(T, (kb + 1) * blockK) - kb * blockK);
      }
    }

    if (storing) {
      for (let k = 0; k < n && unit; k++) if (hi[k] - lo[k] !== 1) unit = false;
      if ((stored + n) * (unit ? 1 : 2) > budget.words) {
        storing = false;
        ilo = ihi = new Int32Array(0);
      } else {
        if (stored + n > ilo.length) {
          let cap = ilo.length * 2;
          while (cap < stored + n) cap *= 2;
          const a = new Int32Array(cap);
          const b = new Int32Array(cap);
          a.set(ilo.subarray(0, stored));
          b.set(ihi.subarray(0, stored));
          ilo = a;
          ihi = b;
        }
        start[i] = stored;
        for (let k = 0; k < n; k++) {
          ilo[stored] = lo[k];
          ihi[stored] = hi[k];
          stored++;
        }
        start[i + 1] = stored;
      }
    }

    if (toeplitz) {
      // expected row: the last row shifted left by T−1−i, clipped at 0
      const shift = T - 1 - i;
      while (k0 > 0 && lastHi[k0 - 1] - shift > 0) k0--;
      if (n !== m - k0) toeplitz = false;
      else {
        for (let k = 0; k < n; k++) {
          if (lo[k] !== Math.max(0, lastLo[k0 + k] - shift) || hi[k] !== lastHi[k0 + k] - shift) {
            toeplitz = false;
            break;
          }
        }
      }
    }

    if (isInterval) {
      let a: number;
      let b: number; // inclusive
      if (n === 0) {
        a = i;
        b = i;
      } else if (n === 1 && lo[0] <= i + 1 && hi[0] >= i) {
        a = Math.min(lo[0], i);
        b = Math.max(hi[0] - 1, i);
      } else if (n === 2 && hi[0] === i && lo[1] === i + 1) {
        a = lo[0];
        b = hi[1] - 1;
      } else {
        isInterval = false;
        continue;
      }
      L[i] = a;
      R[i] = b;
      if (i > 0 && (a < L[i - 1] || b < R[i - 1])) monotone = false;
    }
  }

  let source: RowSource = new StreamedRows(rows);
  if (storing) {
    budget.words -= stored * (unit ? 1 : 2);
    source = unit ? new StoredKeys(ilo.slice(0, stored), start) : new StoredRows(ilo, ihi, start);
  }
  let offsets: LayerScan['offsets'] = null;
  if (toeplitz) {
    // offsets d = T − 1 − j, ascending: the last row's intervals reversed
    const olo = new Int32Array(m);
    const ohi = new Int32Array(m);
    for (let k = 0; k < m; k++) {
      olo[k] = T - lastHi[m - 1 - k];
      ohi[k] = T - lastLo[m - 1 - k];
    }
    offsets = { lo: olo, hi: ohi };
  }
  return {
    pattern: pattern.toString(),
    edges,
    minN,
    maxN,
    computed,
    source,
    offsets,
    intervals: isInterval ? { L, R, monotone } : null,
  };
}
