/**
 * Exact receptive fields for any pattern or stack, without structure to exploit.
 *
 *  - 'bfs' (one pattern at every layer): RF_l(t) is the ball of radius l around t in the graph
 *    t → N(t), so one breadth-first search from each query, bounded to layers + 1 hops, gives
 *    every layer at once. A union-find "next unvisited key" makes each interval of an expanded row
 *    cost O(1 + newly reached keys): O(T + intervals of reached rows) per query, O(T²)-ish in all.
 *    A row that reads every key (a global token) ends a search at once.
 *  - 'bit-matrix' (a stack): RF_l for every query as a T × T bit matrix, advanced layer by layer
 *    by OR-ing the rows of N_l(t) into row t (each row only over the words it has bits in):
 *    O(edges · T/32) per layer, T²/4 bytes of memory.
 *  - per-query (the last query, or a sample of queries): the receptive field of query t after
 *    layer l is found by walking down from layer l to layer 1, B ← B ∪ N_k(B) for k = l … 1.
 *    Every terminal layer l needs its own walk (the stack's layers come in a fixed order), but
 *    all walks apply the same pattern at layer k, so they run in lockstep as bits of one word
 *    per token (bit (q, l) set when the token is in query q's walk from layer l):
 *    O(layers · (T + edges) · ⌈queries · layers / 32⌉). With one pattern it is the search above.
 */
import type { FlowResult, LayerStepper } from './flow.js';
import type { RowSource } from './layer.js';
import { popcount32 } from './structured.js';

/** Smallest index ≥ x not yet visited (nxt[v] = v for unvisited v; nxt[T] = T). Path halving. */
function find(nxt: Int32Array, x: number): number {
  while (nxt[x] !== x) {
    const y = nxt[nxt[x]];
    nxt[x] = y;
    x = y;
  }
  return x;
}

export interface SearchResult {
  /** counts[d] = nodes at distance exactly d (counts[0] = 1), up to the last non-empty layer */
  counts: number[];
  /** the same, counting only nodes ≤ src (the query's prefix) */
  prefixCounts: number[];
  /**
   * true when counts is complete: the receptive field reaches its limit at depth
   * counts.length − 1; false when nodes at depth maxDepth were found and the search stopped there
   */
  exhausted: boolean;
  work: number;
}

export function identity(T: number): Int32Array {
  const a = new Int32Array(T + 1);
  for (let i = 0; i <= T; i++) a[i] = i;
  return a;
}

/**
 * Breadth-first search from src over at most maxDepth hops. nxt must be the identity on [0, T]
 * and is restored before returning; order is scratch of length ≥ T.
 */
export function search(src: number, maxDepth: number, rows: RowSource, nxt: Int32Array, order: Int32Array): SearchResult {
  const counts = [1];
  const prefixCounts = [1];
  order[0] = src;
  nxt[src] = src + 1;
  let head = 0;
  let tail = 1;
  let inPrefix = 1; // reached nodes ≤ src
  let work = 1;
  let exhausted = false;
  const T = nxt.length - 1;
  search: for (let d = 1; d <= maxDepth; d++) {
    const layerEnd = tail;
    const prefixBefore = inPrefix;
    for (; head < layerEnd; head++) {
      rows.load(order[head]);
      const lo = rows.lo;
      const hi = rows.hi;
      const e = rows.e;
      work += e - rows.s + 1;
      if (e === rows.s + 1 && lo[rows.s] === 0 && hi[rows.s] === T) {
        // a row that reads every key (a global token): depth d holds everything not yet reached
        const rest = T - layerEnd;
        if (rest > 0) {
          counts.push(rest);
          prefixCounts.push(src + 1 - prefixBefore);
        }
        exhausted = true;
        break search;
      }
      for (let k = rows.s; k < e; k++) {
        const b = hi[k];
        let x = find(nxt, lo[k]);
        while (x < b) {
          order[tail++] = x;
          if (x <= src) inPrefix++;
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
    prefixCounts.push(inPrefix - prefixBefore);
  }
  work += tail;
  for (let k = 0; k < tail; k++) nxt[order[k]] = order[k];
  return { counts, prefixCounts, exhausted, work };
}

/** Cumulative sums of counts for l = 1..layers. */
function cumulative(counts: number[], layers: number): number[] {
  const out = new Array<number>(layers);
  let c = counts[0];
  for (let l = 1; l <= layers; l++) {
    if (l < counts.length) c += counts[l];
    out[l - 1] = c;
  }
  return out;
}

/** Folds one query's per-layer sizes into running statistics. */
class QueryStats {
  readonly min: number[];
  readonly minCoverage: number[];
  last: number[] = [];
  /** stable[l]: every query so far has |RF_l| = |RF_{l+period}| (nothing grows after l) */
  private readonly stable: boolean[];
  queries = 0;
  constructor(
    private readonly layers: number,
    private readonly period: number,
  ) {
    this.min = new Array<number>(layers).fill(Infinity);
    this.minCoverage = new Array<number>(layers).fill(1);
    this.stable = new Array<boolean>(layers + 1).fill(true);
  }
  /** sizes[l − 1] for l = 1..layers + period, prefix[l − 1] (within [0, t]) for l = 1..layers */
  add(t: number, T: number, sizes: ArrayLike<number>, prefix: ArrayLike<number>): void {
    this.queries++;
    for (let l = 0; l < this.layers; l++) {
      if (sizes[l] < this.min[l]) this.min[l] = sizes[l];
      const c = prefix[l] / (t + 1);
      if (c < this.minCoverage[l]) this.minCoverage[l] = c;
    }
    for (let l = 0; l <= this.layers; l++) {
      // fields only grow, so equal sizes mean equal fields
      if ((l === 0 ? 1 : sizes[l - 1]) !== sizes[l + this.period - 1]) this.stable[l] = false;
    }
    if (t === T - 1) this.last = Array.from(sizes).slice(0, this.layers);
  }
  result(): FlowResult {
    const s = this.stable.indexOf(true);
    return { last: this.last, min: this.min, minCoverage: this.minCoverage, saturationDepth: s < 0 ? null : s, queries: this.queries };
  }
}

/** Estimated steps of searchAll: the mean work of a few sampled searches times T. */
export function estimateSearchAll(T: number, layers: number, rows: RowSource): number {
  const nxt = identity(T);
  const order = new Int32Array(T);
  const samples = Math.min(T, 33);
  let sampled = 0;
  for (let k = 0; k < samples; k++) {
    sampled += search(Math.floor(((T - 1) * k) / Math.max(1, samples - 1)), layers + 1, rows, nxt, order).work;
  }
  return (sampled / samples) * T;
}

/** One pattern at every layer: bounded searches from the given queries (all, or a sample). */
export function searchQueries(queries: Int32Array, T: number, layers: number, rows: RowSource, maxWork: number, refuse: () => Error): FlowResult {
  const nxt = identity(T);
  const order = new Int32Array(T);
  const stats = new QueryStats(layers, 1);
  let work = 0;
  for (const s of queries) {
    const r = search(s, layers + 1, rows, nxt, order);
    work += r.work;
    if (work > 2 * maxWork) throw refuse();
    stats.add(s, T, cumulative(r.counts, layers + 1), cumulative(r.prefixCounts, layers));
  }
  return stats.result();
}


/** Words of the bit matrix for T tokens. */
export function matrixWords(T: number): number {
  return T * Math.ceil(T / 32);
}

/** Every query's receptive field as a row of a T × T bit matrix (see the file comment). */
export class MatrixStepper implements LayerStepper {
  private readonly W: number;
  private cur: Uint32Array;
  private next: Uint32Array;
  /** per row: the words [spanLo, spanHi) outside which the row is zero */
  private spanLo: Int32Array;
  private spanHi: Int32Array;
  private nLo: Int32Array;
  private nHi: Int32Array;

  constructor(
    private readonly T: number,
    private readonly entries: RowSource[],
  ) {
    const W = Math.ceil(T / 32);
    this.W = W;
    this.cur = new Uint32Array(T * W);
    this.next = new Uint32Array(T * W);
    this.spanLo = new Int32Array(T);
    this.spanHi = new Int32Array(T);
    this.nLo = new Int32Array(T);
    this.nHi = new Int32Array(T);
    for (let t = 0; t < T; t++) {
      this.cur[t * W + (t >>> 5)] = 1 << (t & 31);
      this.spanLo[t] = t >>> 5;
      this.spanHi[t] = (t >>> 5) + 1;
    }
  }

  step(entry: number): boolean {
    const { T, W, cur, next, spanLo, spanHi, nLo, nHi } = this;
    const rows = this.entries[entry];
    next.set(cur);
    nLo.set(spanLo);
    nHi.set(spanHi);
    let grew = false;
    for (let t = 0; t < T; t++) {
      rows.load(t);
      const base = t * W;
      let lo = nLo[t];
      let hi = nHi[t];
      for (let k = rows.s; k < rows.e; k++) {
        for (let j = rows.lo[k], b = rows.hi[k]; j < b; j++) {
          if (j === t) continue;
          const a = spanLo[j];
          const z = spanHi[j];
          const src = j * W;
          for (let w = a; w < z; w++) {
            const v = cur[src + w];
            const old = next[base + w];
            if ((v & ~old) !== 0) {
              next[base + w] = old | v;
              grew = true;
            }
          }
          if (a < lo) lo = a;
          if (z > hi) hi = z;
        }
      }
      nLo[t] = lo;
      nHi[t] = hi;
    }
    this.cur = next;
    this.next = cur;
    this.spanLo = nLo;
    this.spanHi = nHi;
    this.nLo = spanLo;
    this.nHi = spanHi;
    return grew;
  }

  record(): { last: number; min: number; minCoverage: number } {
    const { T, W, cur, spanLo, spanHi } = this;
    let min = Infinity;
    let worst = 1;
    let last = 0;
    for (let t = 0; t < T; t++) {
      const base = t * W;
      const tw = t >>> 5;
      let size = 0;
      let prefix = 0;
      for (let w = spanLo[t]; w < spanHi[t]; w++) {
        const v = cur[base + w];
        if (v === 0) continue;
        const c = popcount32(v);
        size += c;
        if (w < tw) prefix += c;
        else if (w === tw) prefix += popcount32((t & 31) === 31 ? v : v & ((1 << ((t & 31) + 1)) - 1));
      }
      if (size < min) min = size;
      const cov = prefix / (t + 1);
      if (cov < worst) worst = cov;
      if (t === T - 1) last = size;
    }
    return { last, min, minCoverage: worst };
  }
}

/** Estimated word operations of MatrixStepper over `steps` layers of the given edge counts. */
export function estimateMatrix(T: number, edgesPerLayer: number, steps: number): number {
  return steps * (edgesPerLayer + 2 * T) * Math.ceil(T / 32);
}

/**
 * A stack of patterns: the receptive fields of the given queries after every layer 1..layers
 * (and up to `period` layers more, to decide saturation), by lockstep walks down the layers.
 */
export function walkQueries(queries: Int32Array, T: number, layers: number, entries: RowSource[], period: number): FlowResult {
  const depth = layers + period; // terminal layers 1..depth
  const n = queries.length;
  const bits = n * depth;
  const G = Math.ceil(bits / 32);
  let cur = new Uint32Array(T * G);
  let next = new Uint32Array(T * G);
  const live = new Uint8Array(T); // tokens with any bit set
  for (let k = depth; k >= 1; k--) {
    // the walk from terminal layer k starts at its query
    for (let q = 0; q < n; q++) {
      const b = q * depth + (k - 1);
      cur[queries[q] * G + (b >>> 5)] |= 1 << (b & 31);
      live[queries[q]] = 1;
    }
    const rows = entries[(k - 1) % period];
    next.set(cur);
    for (let x = 0; x < T; x++) {
      if (!live[x]) continue;
      rows.load(x);
      const src = x * G;
      for (let r = rows.s; r < rows.e; r++) {
        for (let j = rows.lo[r], b = rows.hi[r]; j < b; j++) {
          if (j === x) continue;
          const dst = j * G;
          for (let w = 0; w < G; w++) next[dst + w] |= cur[src + w];
          live[j] = 1;
        }
      }
    }
    [cur, next] = [next, cur];
  }
  // sizes[q][l − 1] and the same within the query's prefix
  const sizes = new Float64Array(bits);
  const prefix = new Float64Array(bits);
  for (let j = 0; j < T; j++) {
    if (!live[j]) continue;
    const base = j * G;
    for (let w = 0; w < G; w++) {
      let v = cur[base + w];
      while (v !== 0) {
        const low = v & -v;
        const b = w * 32 + 31 - Math.clz32(low);
        v ^= low;
        sizes[b]++;
        if (j <= queries[Math.floor(b / depth)]) prefix[b]++;
      }
    }
  }
  const stats = new QueryStats(layers, period);
  for (let q = 0; q < n; q++) {
    stats.add(queries[q], T, sizes.subarray(q * depth, (q + 1) * depth), prefix.subarray(q * depth, (q + 1) * depth));
  }
  return stats.result();
}

/** Estimated word operations of walkQueries. */
export function estimateWalk(queries: number, T: number, layers: number, period: number, edgesPerLayer: number): number {
  const depth = layers + period;
  return depth * (T + edgesPerLayer) * Math.ceil((queries * depth) / 32);
}
