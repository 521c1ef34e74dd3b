/**
 * Graph analysis of an attention pattern: the information-flow view of a transformer, where
 * layer l lets query i read the tokens in its neighborhood N(i), and a token's receptive field is
 * everything whose information can have reached it after l layers.
 *
 * Definitions (seqQ = seqK = seqLen, so query i sits at position i; one head, default 0):
 *   N(i)      = { j : pattern.allows(i, j, head) }
 *   RF_0(i)   = { i }
 *   RF_l(i)   = RF_{l−1}(i) ∪ ⋃_{j ∈ N(i)} RF_{l−1}(j)
 * A token always keeps its own information (the residual stream), so RF_l(i) ⊇ RF_{l−1}(i) even
 * when i ∉ N(i). Equivalently RF_l(i) is the set of nodes within l hops of i in the graph with
 * edges i → j for j ∈ N(i) plus a self-loop at every node, and the limit RF_∞(i) is the set of
 * nodes reachable from i (transitive closure).
 *
 * Results:
 *   density            allowed (i, j) pairs / seqLen²
 *   neighborhood       min / mean / max of |N(i)| over queries (self counted only if allowed)
 *   receptiveField     last[l−1] = |RF_l(seqLen−1)|, min[l−1] = min_i |RF_l(i)|, l = 1..layers
 *   fullDepth          the smallest l ≤ layers with RF_l(i) = RF_∞(i) for every i, else null
 *                      (0 when no token ever reads another: RF_0 is already complete)
 *   tileEfficiency     allowed pairs / in-bounds elements of the tiles the mask compiler visits
 *                      (1 when nothing is visited)
 *
 * Algorithms. The pattern is compiled to a BlockMask once (tile shape `tile`); every row is then
 * read back as a list of key intervals (full tiles arithmetically, partial tiles a word at a time),
 * which gives the neighborhood sizes, the edge count and the tile efficiency exactly, and lets
 * the rows be classified. `last` always comes from a breadth-first search from the last query,
 * bounded to layers + 1 hops, in which a union-find "next unvisited key" structure makes each
 * interval of an expanded row cost O(1 + newly reached keys): O(T + intervals of reached rows).
 * `min` and `fullDepth` come from the first method that applies (all are exact):
 *
 *  - 'toeplitz-causal': every row is N(i) = { i − d : d ∈ D, d ≤ i } for one offset set D ⊆ ℕ
 *    (sliding, window(l, 0), causal, log, dilated, strided, and their intersections and unions),
 *    checked exactly on every row. Then a path from i only moves left, so
 *    RF_l(i) = { i − s : s ∈ S_l, s ≤ i } with S_l the l-fold sumset of D ∪ {0}. Hence
 *    |RF_l(i)| = |S_l ∩ [0, i]| is non-decreasing in i: min_i |RF_l(i)| = |RF_l(0)| = 1; and
 *    RF_l(i) = RF_∞(i) for all i iff S_l ∩ [0, T−1] = S_∞ ∩ [0, T−1], which is the statement for
 *    the last query alone: fullDepth is its eccentricity, read off the same search.
 *  - 'interval': every N(i) ∪ {i} is one interval [L_i, R_i] (window, full, block, docs,
 *    prefix, causal, …). Then every RF_l(i) is an interval containing i (a union of intervals
 *    that contain consecutive j's leaves no gap), RF_l(i) = [min_{j∈[L_i,R_i]} lo_{l−1}(j),
 *    max_{j∈[L_i,R_i]} hi_{l−1}(j)], computed per layer with a monotone deque (L, R
 *    non-decreasing) or a sparse table, O(T) or O(T log T) per layer, stopping at the fixed point.
 *  - 'bfs': the general case: the bounded search above from every query, O(T · (T + intervals
 *    of reached rows)) — exact for any pattern. A row that reads every key (a global token) ends
 *    a search at once: everything not yet reached sits at the next depth. Refused with a
 *    RangeError when a sample of sources predicts more work than a budget (seqLen in the few
 *    thousands is fine for any pattern; sliding | sink at 65536 with 8 layers takes seconds).
 */
import type { Pattern } from '../patterns/pattern.js';
import { toPattern } from '../patterns/index.js';
import { compileMask } from '../mask/index.js';
import { MAX_MASK_TILE_BITS } from '../mask/compile.js';
import { IntervalBuffer, MaskRows } from './rows.js';
import { describeValue } from '../describe.js';

export type AnalysisMethod = 'toeplitz-causal' | 'interval' | 'bfs';

export interface AnalyzeOptions {
  /** sequence length T (seqQ = seqK = T) */
  seqLen: number;
  /** number of layers L ≥ 0; receptiveField arrays have L entries */
  layers: number;
  /** tile shape for tileEfficiency (and the mask the analysis reads); default 128×64 */
  tile?: { blockQ: number; blockK: number };
  /** head to analyze (patterns built with perHead); default 0 */
  head?: number;
  /**
   * Force the algorithm for receptiveField.min / fullDepth ('auto', the default, takes the first
   * that applies). Forcing a method that does not apply to the pattern throws. For testing.
   */
  method?: 'auto' | AnalysisMethod;
  /**
   * work budget of the general 'bfs' method, in interval and node visits (default 1e9, about
   * 15 s); past it analyze throws a RangeError rather than run on
   */
  maxWork?: number;
}

export interface Analysis {
  /** the pattern's canonical string */
  pattern: string;
  seqLen: number;
  layers: number;
  head: number;
  tile: { blockQ: number; blockK: number };
  /** allowed (query, key) pairs */
  edges: number;
  density: number;
  neighborhood: { min: number; mean: number; max: number };
  receptiveField: { last: number[]; min: number[] };
  fullDepth: number | null;
  tileEfficiency: number;
  /** the algorithm that produced receptiveField.min and fullDepth (all are exact) */
  method: AnalysisMethod;
}

const DEFAULT_TILE = { blockQ: 128, blockK: 64 } as const;
/** the most intervals kept in memory (two Int32Arrays); past this, rows are re-read from the mask */
const MAX_STORED_INTERVALS = 1 << 23;
const MAX_SEQ_LEN = 1 << 24;
const DEFAULT_MAX_WORK = 1e9;

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`analyze: ${name} must be an integer in [${min}, ${max}], got ${describeValue(v)}`);
  }
  return v;
}

/** Row access for the searches: after load(u), row u is lo[s..e) / hi[s..e). */
interface RowSource {
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

class StreamedRows implements RowSource {
  lo: Int32Array;
  hi: Int32Array;
  s = 0;
  e = 0;
  private readonly buf = new IntervalBuffer(64);
  constructor(private readonly rows: MaskRows) {
    this.lo = this.buf.lo;
    this.hi = this.buf.hi;
  }
  load(u: number): void {
    this.e = this.rows.read(u, this.buf);
    this.lo = this.buf.lo;
    this.hi = this.buf.hi;
  }
}

/** What one pass over all rows learns. */
interface RowScan {
  edges: number;
  minN: number;
  maxN: number;
  source: RowSource;
  toeplitzCausal: boolean;
  /** [L_i, R_i] = N(i) ∪ {i} when every such union is one interval, else null */
  intervals: { L: Int32Array; R: Int32Array; monotone: boolean } | null;
}

function scanRows(rows: MaskRows, T: number): RowScan {
  const buf = new IntervalBuffer(64);
  // the last row's intervals: the offset set D of a Toeplitz-causal pattern
  const m = rows.read(T - 1, buf);
  const lastLo = buf.lo.slice(0, m);
  const lastHi = buf.hi.slice(0, m);
  let k0 = m; // first interval of the last row that survives the shift of the current row

  let storing = true;
  let ilo = new Int32Array(Math.min(1 << 16, MAX_STORED_INTERVALS));
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

  for (let i = 0; i < T; i++) {
    const n = rows.read(i, buf);
    const lo = buf.lo;
    const hi = buf.hi;
    let size = 0;
    for (let k = 0; k < n; k++) size += hi[k] - lo[k];
    edges += size;
    if (size < minN) minN = size;
    if (size > maxN) maxN = size;

    if (storing) {
      if (stored + n > MAX_STORED_INTERVALS) {
        storing = false;
        ilo = ihi = new Int32Array(0);
      } else {
        if (stored + n > ilo.length) {
          let cap = ilo.length * 2;
          while (cap < stored + n) cap *= 2;
          cap = Math.min(cap, MAX_STORED_INTERVALS);
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

  const source: RowSource = storing ? new StoredRows(ilo, ihi, start) : new StreamedRows(rows);
  return {
    edges,
    minN,
    maxN,
    source,
    toeplitzCausal: toeplitz,
    intervals: isInterval ? { L, R, monotone } : null,
  };
}

/** Smallest index ≥ x not yet visited (nxt[v] = v for unvisited v; nxt[T] = T). Path halving. */
function find(nxt: Int32Array, x: number): number {
  while (nxt[x] !== x) {
    const y = nxt[nxt[x]];
    nxt[x] = y;
    x = y;
  }
  return x;
}

interface SearchResult {
  /** counts[d] = nodes at distance exactly d (counts[0] = 1), up to the last non-empty layer */
  counts: number[];
  /**
   * true when counts is known to be complete: the receptive field reaches its limit at depth
   * counts.length − 1 (which may be maxDepth); false when nodes at depth maxDepth were found and
   * the search stopped there
   */
  exhausted: boolean;
  work: number;
}

/**
 * Breadth-first search from src over at most maxDepth hops. nxt must be the identity on [0, T]
 * and is restored before returning; order is scratch of length ≥ T.
 */
function search(src: number, maxDepth: number, rows: RowSource, nxt: Int32Array, order: Int32Array): SearchResult {
  const counts = [1];
  order[0] = src;
  nxt[src] = src + 1;
  let head = 0;
  let tail = 1;
  let work = 1;
  let exhausted = false;
  const T = nxt.length - 1;
  search: for (let d = 1; d <= maxDepth; d++) {
    const layerEnd = tail;
    for (; head < layerEnd; head++) {
      rows.load(order[head]);
      const lo = rows.lo;
      const hi = rows.hi;
      const e = rows.e;
      work += e - rows.s + 1;
      if (e === rows.s + 1 && lo[rows.s] === 0 && hi[rows.s] === T) {
        // a row that reads every key (a global token): depth d holds everything not yet reached
        const rest = T - layerEnd;
        if (rest > 0) counts.push(rest);
        exhausted = true;
        break search;
      }
      for (let k = rows.s; k < e; k++) {
        const b = hi[k];
        let x = find(nxt, lo[k]);
        while (x < b) {
          order[tail++] = x;
          nxt[x] = x + 1;
          x = find(nxt, x + 1);
        }
      }
    }
    if (tail === layerEnd) {
      exhausted = true;
      break;
    }
    counts.push(tail - layerEnd);
  }
  work += tail;
  for (let k = 0; k < tail; k++) nxt[order[k]] = order[k];
  return { counts, exhausted, work };
}

/** |RF_l| for l = 1..layers from per-distance counts. */
function cumulative(counts: number[], layers: number): number[] {
  const out = new Array<number>(layers);
  let c = counts[0];
  for (let l = 1; l <= layers; l++) {
    if (l < counts.length) c += counts[l];
    out[l - 1] = c;
  }
  return out;
}

function identity(T: number): Int32Array {
  const a = new Int32Array(T + 1);
  for (let i = 0; i <= T; i++) a[i] = i;
  return a;
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

/** The 'interval' method: min_i |RF_l(i)| for l = 1..layers and fullDepth. */
function intervalLayers(L: Int32Array, R: Int32Array, monotone: boolean, layers: number): { min: number[]; fullDepth: number | null } {
  const T = L.length;
  let lo = new Int32Array(T);
  let hi = new Int32Array(T);
  for (let i = 0; i < T; i++) lo[i] = hi[i] = i;
  let nlo = new Int32Array(T);
  let nhi = new Int32Array(T);
  const dq = new Int32Array(T);
  const levels = 32 - Math.clz32(T);
  const table: Int32Array[] = [];
  if (!monotone) for (let k = 0; k < levels; k++) table.push(new Int32Array(T));
  const min: number[] = [];
  let curMin = 1; // min_i |RF_0(i)|
  for (let l = 1; l <= layers + 1; l++) {
    if (monotone) {
      windowExtremeMonotone(lo, L, R, nlo, true, dq);
      windowExtremeMonotone(hi, L, R, nhi, false, dq);
    } else {
      windowExtremeSparse(lo, L, R, nlo, true, table);
      windowExtremeSparse(hi, L, R, nhi, false, table);
    }
    let changed = false;
    let m = Infinity;
    for (let i = 0; i < T; i++) {
      if (nlo[i] !== lo[i] || nhi[i] !== hi[i]) changed = true;
      const s = nhi[i] - nlo[i] + 1;
      if (s < m) m = s;
    }
    if (!changed) {
      // RF_l = RF_{l−1} everywhere: RF_{l−1} is the closure, and l−1 the first depth reaching it
      while (min.length < layers) min.push(curMin);
      return { min, fullDepth: l - 1 };
    }
    curMin = m;
    if (l <= layers) min.push(m);
    [lo, nlo] = [nlo, lo];
    [hi, nhi] = [nhi, hi];
  }
  return { min, fullDepth: null };
}

/** The 'bfs' method: bounded searches from every query. */
function allSources(T: number, layers: number, rows: RowSource, maxWork: number): { min: number[]; fullDepth: number | null } {
  const nxt = identity(T);
  const order = new Int32Array(T);
  const min = new Array<number>(layers).fill(Infinity);
  let complete = true;
  let depth = 0;
  const refuse = () =>
    new RangeError(
      `analyze: exact receptive-field statistics for this pattern need more than ${maxWork.toExponential(1)} ` +
        `steps at seqLen ${T} (it is neither translation-invariant causal nor interval-shaped); use a smaller seqLen`,
    );
  // estimate the cost from a sample of sources first, so that hopeless cases are refused at once
  const samples = Math.min(T, 33);
  let sampled = 0;
  for (let k = 0; k < samples; k++) {
    sampled += search(Math.floor(((T - 1) * k) / Math.max(1, samples - 1)), layers + 1, rows, nxt, order).work;
  }
  if ((sampled / samples) * T > maxWork) throw refuse();
  let work = 0;
  for (let s = 0; s < T; s++) {
    const r = search(s, layers + 1, rows, nxt, order);
    work += r.work;
    if (work > 2 * maxWork) throw refuse();
    const ecc = r.counts.length - 1;
    if (!r.exhausted || ecc > layers) complete = false;
    else if (ecc > depth) depth = ecc;
    let c = r.counts[0];
    for (let l = 1; l <= layers; l++) {
      if (l < r.counts.length) c += r.counts[l];
      if (c < min[l - 1]) min[l - 1] = c;
    }
  }
  return { min, fullDepth: complete ? depth : null };
}

/** Analyzes a pattern as an information-flow graph; see the file comment for definitions. */
export function analyze(pattern: Pattern | string, options: AnalyzeOptions): Analysis {
  if (options === null || typeof options !== 'object') throw new TypeError('analyze: options { seqLen, layers } are required');
  const T = checkInt('seqLen', options.seqLen, 1, MAX_SEQ_LEN);
  const layers = checkInt('layers', options.layers, 0, 1 << 24);
  const head = checkInt('head', options.head ?? 0, 0, 2 ** 31 - 1);
  const tile = options.tile ?? DEFAULT_TILE;
  const blockQ = checkInt('tile.blockQ', tile.blockQ, 1, 1 << 16);
  const blockK = checkInt('tile.blockK', tile.blockK, 1, 1 << 16);
  if (blockQ * 32 * Math.ceil(blockK / 32) > MAX_MASK_TILE_BITS) {
    throw new RangeError(`analyze: a tile of tile.blockQ × tile.blockK = ${blockQ} × ${blockK} is larger than the ${MAX_MASK_TILE_BITS} bits a bit tile may hold`);
  }
  const method = options.method ?? 'auto';
  if (!['auto', 'toeplitz-causal', 'interval', 'bfs'].includes(method)) {
    throw new RangeError(`analyze: method must be 'auto', 'toeplitz-causal', 'interval' or 'bfs', got ${describeValue(method)}`);
  }
  const maxWork = options.maxWork ?? DEFAULT_MAX_WORK;
  const p = toPattern(pattern);

  const period = p.headPeriod > 1 ? p.headPeriod : 1;
  const mask = compileMask(p, { seqQ: T, seqK: T, heads: period > 1 ? (head % period) + 1 : 1, blockQ, blockK });
  const rows = new MaskRows(mask, head % period);
  const scan = scanRows(rows, T);

  const nxt = identity(T);
  const order = new Int32Array(T);
  const lastSearch = search(T - 1, layers + 1, scan.source, nxt, order);
  const last = cumulative(lastSearch.counts, layers);

  let used: AnalysisMethod;
  if (method === 'auto') used = scan.toeplitzCausal ? 'toeplitz-causal' : scan.intervals ? 'interval' : 'bfs';
  else used = method;

  let min: number[];
  let fullDepth: number | null;
  if (used === 'toeplitz-causal') {
    if (!scan.toeplitzCausal) throw new Error(`analyze: ${p.toString()} is not translation-invariant causal at seqLen ${T}`);
    min = new Array<number>(layers).fill(1);
    const ecc = lastSearch.counts.length - 1;
    fullDepth = lastSearch.exhausted && ecc <= layers ? ecc : null;
  } else if (used === 'interval') {
    if (!scan.intervals) throw new Error(`analyze: the neighborhoods of ${p.toString()} are not intervals at seqLen ${T}`);
    ({ min, fullDepth } = intervalLayers(scan.intervals.L, scan.intervals.R, scan.intervals.monotone, layers));
  } else {
    ({ min, fullDepth } = allSources(T, layers, scan.source, maxWork));
  }

  const computed = rows.computedElements;
  return {
    pattern: p.toString(),
    seqLen: T,
    layers,
    head,
    tile: { blockQ, blockK },
    edges: scan.edges,
    density: scan.edges / (T * T),
    neighborhood: { min: scan.minN, mean: scan.edges / T, max: scan.maxN },
    receptiveField: { last, min },
    fullDepth,
    tileEfficiency: computed === 0 ? 1 : scan.edges / computed,
    method: used,
  };
}
