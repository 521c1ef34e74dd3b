/**
 * Graph analysis of attention patterns: the information-flow view of a transformer, where layer l
 * lets query i read the tokens in its neighborhood N_l(i), and a token's receptive field is
 * everything whose information can have reached it after l layers.
 *
 * Definitions (seqQ = seqK = T, so query i sits at position i; one head, default 0). A stack of
 * patterns P_0 … P_{m−1} is cycled over layers: layer l (1-based) uses P_{(l−1) mod m}; a single
 * pattern is the stack of one.
 *   N_l(i)    = { j : P_{(l−1) mod m}.allows(i, j, head) }
 *   RF_0(i)   = { i }
 *   RF_l(i)   = RF_{l−1}(i) ∪ ⋃_{j ∈ N_l(i)} RF_{l−1}(j)
 * A token always keeps its own information (the residual stream), so RF_l(i) ⊇ RF_{l−1}(i) even
 * when i ∉ N_l(i).
 *
 * Results:
 *   density, edges     allowed (i, j) pairs per layer (/ T²), averaged over the stack
 *   neighborhood       min / max of |N(i)| over queries and stack entries; mean = edges / T
 *   receptiveField     last[l−1] = |RF_l(T−1)|, min[l−1] = min_i |RF_l(i)|,
 *                      minCoverage[l−1] = min_i |RF_l(i) ∩ [0, i]| / (i + 1), l = 1..layers
 *   fullDepth          the first l ≤ layers with [0, i] ⊆ RF_l(i) for every i (0 when T = 1),
 *                      else null: the seeds' "full receptive-field depth"
 *   saturationDepth    the first l ≤ layers after which no receptive field grows any more (under
 *                      any later layer of the cycled stack), else null
 *   tileEfficiency     allowed pairs / in-bounds elements of the tiles holding an edge (the tiles a
 *                      backend computes), summed over the stack (1 when nothing is visited)
 *
 * Methods (each exact; lib/analysis/structured.ts and general.ts say how and at what cost):
 * 'toeplitz-causal' and 'interval' when every pattern of the stack has that structure (T = 65536
 * and 64 layers in milliseconds to a fraction of a second); otherwise 'bfs' (one pattern) or
 * 'bit-matrix' (a stack) over all queries, within a work budget. Past the budget, analyze throws —
 * unless `sampleQueries` is given: then min, minCoverage, fullDepth and saturationDepth range over
 * that many evenly spaced queries (always including the last), method 'sampled', and `queries`
 * says how many. On a sample, a null fullDepth or saturationDepth is exact (a sampled query is a
 * counterexample); a number is a lower bound.
 */
import type { Pattern } from '../patterns/pattern.js';
import { toPattern } from '../patterns/index.js';
import { PatternNode } from '../patterns/node.js';
import { MAX_MASK_TILE_BITS } from '../mask/compile.js';
import { describeValue } from '../describe.js';
import { scanLayer, StorageBudget, type LayerScan } from './layer.js';
import { drive, type FlowResult } from './flow.js';
import { IntervalStepper, ToeplitzStepper } from './structured.js';
import { estimateMatrix, estimateSearchAll, estimateWalk, matrixWords, MatrixStepper, searchQueries, walkQueries } from './general.js';
import { backendTile, type TileBackend } from './tile.js';

export type AnalysisMethod = 'toeplitz-causal' | 'interval' | 'bfs' | 'bit-matrix' | 'sampled';

export interface AnalyzeOptions {
  /** sequence length T (seqQ = seqK = T) */
  seqLen: number;
  /** number of layers L ≥ 0; receptiveField arrays have L entries */
  layers: number;
  /** tile shape for tileEfficiency; default: the tile `backend` runs */
  tile?: { blockQ: number; blockK: number };
  /** whose tile to default to: 'cpu' (default: what attention() runs on host tensors) or 'cuda' */
  backend?: TileBackend;
  /** head to analyze (patterns built with perHead); default 0 */
  head?: number;
  /**
   * Force the algorithm ('auto', the default, takes the first that applies). Forcing a method that
   * does not apply throws; 'sampled' needs sampleQueries. For testing.
   */
  method?: 'auto' | AnalysisMethod;
  /** work budget of the general methods, in steps (default 1e9, about 10 s); past it analyze throws */
  maxWork?: number;
  /**
   * when the exact statistics over all queries are past the budget, compute them over this many
   * evenly spaced queries (including the last) instead of throwing
   */
  sampleQueries?: number;
}

export interface Analysis {
  /** the pattern's canonical string; for a stack, its entries joined by ' ; ' */
  pattern: string;
  /** the stack's entries (one for a single pattern), cycled over layers */
  stack: string[];
  seqLen: number;
  layers: number;
  head: number;
  tile: { blockQ: number; blockK: number };
  /** where the tile came from: the option, the loaded addon's backend, or the documented shape */
  tileSource: 'option' | TileBackend | 'documented';
  /** allowed (query, key) pairs per layer, averaged over the stack */
  edges: number;
  density: number;
  neighborhood: { min: number; mean: number; max: number };
  receptiveField: { last: number[]; min: number[]; minCoverage: number[] };
  fullDepth: number | null;
  saturationDepth: number | null;
  tileEfficiency: number;
  /** the algorithm behind receptiveField, fullDepth and saturationDepth */
  method: AnalysisMethod;
  /** how many queries receptiveField.min / minCoverage, fullDepth and saturationDepth range over */
  queries: number;
}

const MAX_SEQ_LEN = 1 << 24;
const DEFAULT_MAX_WORK = 1e9;
/** words of rows kept in memory over all layers (128 MiB); past this, rows are read again */
const MAX_STORED_WORDS = 1 << 25;
/** words of the two bit matrices of 'bit-matrix' (256 MiB) */
const MAX_MATRIX_WORDS = 1 << 26;
const METHODS = ['auto', 'toeplitz-causal', 'interval', 'bfs', 'bit-matrix', 'sampled'];

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`analyze: ${name} must be an integer in [${min}, ${max}], got ${describeValue(v)}`);
  }
  return v;
}

/** The stack's patterns, and for every entry the index of its distinct pattern. */
function toStack(pattern: unknown): { patterns: Pattern[]; entryOf: number[]; names: string[] } {
  const list = Array.isArray(pattern) ? (pattern as unknown[]) : [pattern];
  if (list.length === 0) throw new RangeError('analyze: a stack of patterns needs at least one pattern');
  const patterns: Pattern[] = [];
  const byName = new Map<string, number>();
  const entryOf: number[] = [];
  const names: string[] = [];
  list.forEach((x, k) => {
    let p: Pattern;
    try {
      p = toPattern(x as Pattern | string);
    } catch (e) {
      if (list.length > 1 && e instanceof Error) e.message = `analyze: layer pattern #${k}: ${e.message}`;
      throw e;
    }
    const name = p.toString();
    names.push(name);
    // built-in patterns are equal when they print the same; user Patterns only when identical
    const key = p instanceof PatternNode && p.cacheable ? name : null;
    const known = key === null ? undefined : byName.get(key);
    if (known !== undefined) {
      entryOf.push(known);
      return;
    }
    if (key !== null) byName.set(key, patterns.length);
    entryOf.push(patterns.length);
    patterns.push(p);
  });
  return { patterns, entryOf, names };
}

/** n evenly spaced queries of [0, T), always including T − 1 (all of them when n ≥ T). */
export function sampleOfQueries(T: number, n: number): Int32Array {
  if (n >= T) return Int32Array.from({ length: T }, (_, i) => i);
  if (n === 1) return Int32Array.of(T - 1);
  const out = new Set<number>();
  for (let k = 0; k < n; k++) out.add(Math.round((k * (T - 1)) / (n - 1)));
  return Int32Array.from([...out].sort((a, b) => a - b));
}

/** Analyzes a pattern, or a stack of patterns cycled over layers, as an information-flow graph. */
export function analyze(pattern: Pattern | string | readonly (Pattern | string)[], options: AnalyzeOptions): Analysis {
  if (options === null || typeof options !== 'object') throw new TypeError('analyze: options { seqLen, layers } are required');
  const T = checkInt('seqLen', options.seqLen, 1, MAX_SEQ_LEN);
  const layers = checkInt('layers', options.layers, 0, 1 << 24);
  const head = checkInt('head', options.head ?? 0, 0, 2 ** 31 - 1);
  const backend = options.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') throw new RangeError(`analyze: backend must be 'cpu' or 'cuda', got ${describeValue(backend)}`);
  let tile: { blockQ: number; blockK: number };
  let tileSource: Analysis['tileSource'];
  if (options.tile === undefined || options.tile === null) {
    ({ tile, source: tileSource } = backendTile(backend));
  } else {
    tile = options.tile;
    tileSource = 'option';
  }
  const blockQ = checkInt('tile.blockQ', tile.blockQ, 1, 1 << 16);
  const blockK = checkInt('tile.blockK', tile.blockK, 1, 1 << 16);
  if (blockQ * 32 * Math.ceil(blockK / 32) > MAX_MASK_TILE_BITS) {
    throw new RangeError(`analyze: a tile of tile.blockQ × tile.blockK = ${blockQ} × ${blockK} is larger than the ${MAX_MASK_TILE_BITS} bits a bit tile may hold`);
  }
  const method = options.method ?? 'auto';
  if (!METHODS.includes(method)) {
    throw new RangeError(`analyze: method must be one of ${METHODS.map((m) => `'${m}'`).join(', ')}, got ${describeValue(method)}`);
  }
  const maxWork = options.maxWork ?? DEFAULT_MAX_WORK;
  if (typeof maxWork !== 'number' || !(maxWork > 0)) throw new RangeError(`analyze: maxWork must be a positive number, got ${describeValue(maxWork)}`);
  const sample = options.sampleQueries === undefined ? undefined : checkInt('sampleQueries', options.sampleQueries, 1, MAX_SEQ_LEN);
  const { patterns, entryOf, names } = toStack(pattern);
  const period = entryOf.length;

  const budget = new StorageBudget(MAX_STORED_WORDS);
  const scans = patterns.map((p) => scanLayer(p, T, head, { blockQ, blockK }, budget));
  const entries = entryOf.map((k) => scans[k]);
  const flow = receptiveFields(entries, T, layers, period, method, maxWork, sample);

  let edges = 0;
  let computed = 0;
  let minN = Infinity;
  let maxN = 0;
  for (const s of entries) {
    edges += s.edges;
    computed += s.computed;
    minN = Math.min(minN, s.minN);
    maxN = Math.max(maxN, s.maxN);
  }
  const minCoverage = flow.result.minCoverage;
  let fullDepth: number | null = null;
  if (T === 1) fullDepth = 0;
  else {
    const l = minCoverage.indexOf(1);
    if (l >= 0) fullDepth = l + 1;
  }
  return {
    pattern: names.join(' ; '),
    stack: names,
    seqLen: T,
    layers,
    head,
    tile: { blockQ, blockK },
    tileSource,
    edges: edges / period,
    density: edges / period / (T * T),
    neighborhood: { min: minN, mean: edges / period / T, max: maxN },
    receptiveField: { last: flow.result.last, min: flow.result.min, minCoverage },
    fullDepth,
    saturationDepth: flow.result.saturationDepth,
    tileEfficiency: computed === 0 ? 1 : edges / computed,
    method: flow.method,
    queries: flow.result.queries,
  };
}

/** Chooses and runs the method for the receptive-field statistics. */
function receptiveFields(
  entries: LayerScan[],
  T: number,
  layers: number,
  period: number,
  method: 'auto' | AnalysisMethod,
  maxWork: number,
  sample: number | undefined,
): { result: FlowResult; method: AnalysisMethod } {
  const toeplitz = entries.every((s) => s.offsets !== null);
  const interval = entries.every((s) => s.intervals !== null);
  const maxEdges = Math.max(...entries.map((s) => s.edges));
  // a growing layer grows some field; m quiet layers end it: at most (T·T + 1)·m layers matter
  const steps = Math.min(layers + period, period * (T * T + 1));
  const refuse = (what: string, need: number) =>
    new RangeError(
      `analyze: ${what} need about ${need.toExponential(1)} steps at seqLen ${T} (more than maxWork = ${maxWork.toExponential(1)}); ` +
        'pass sampleQueries (attnflow analyze --sample-queries N) for statistics over a sample of queries, or use a smaller seqLen',
    );
  const sources = () => entries.map((s) => s.source);

  let chosen = method;
  if (chosen === 'auto') {
    if (toeplitz) chosen = 'toeplitz-causal';
    else if (interval) chosen = 'interval';
    else if (period === 1 && estimateSearchAll(T, layers, entries[0].source) <= maxWork) chosen = 'bfs';
    else if (period > 1 && 2 * matrixWords(T) <= MAX_MATRIX_WORDS && estimateMatrix(T, maxEdges, steps) <= maxWork) chosen = 'bit-matrix';
    else if (sample !== undefined) chosen = 'sampled';
    else if (period === 1) throw refuse(`exact receptive-field statistics over all ${T} queries`, estimateSearchAll(T, layers, entries[0].source));
    else throw refuse(`exact receptive-field statistics over all ${T} queries of this stack`, estimateMatrix(T, maxEdges, steps));
  }

  switch (chosen) {
    case 'toeplitz-causal': {
      if (!toeplitz) throw new Error(`analyze: not every pattern of ${entries.map((s) => s.pattern).join(' ; ')} is translation-invariant causal at seqLen ${T}`);
      const w = steps * Math.ceil(T / 32) * 8;
      if (w > 64 * maxWork) throw refuse('the layers asked for', w);
      return { result: drive(new ToeplitzStepper(T, entries.map((s) => s.offsets!)), layers, period, T), method: chosen };
    }
    case 'interval': {
      if (!interval) throw new Error(`analyze: the neighborhoods of ${entries.map((s) => s.pattern).join(' ; ')} are not intervals at seqLen ${T}`);
      if (steps * T > 64 * maxWork) throw refuse('the layers asked for', steps * T);
      return { result: drive(new IntervalStepper(T, entries.map((s) => s.intervals!)), layers, period, T), method: chosen };
    }
    case 'bfs': {
      if (period !== 1) throw new Error("analyze: method 'bfs' needs one pattern at every layer");
      const all = Int32Array.from({ length: T }, (_, i) => i);
      const result = searchQueries(all, T, layers, entries[0].source, maxWork, () => refuse(`exact receptive-field statistics over all ${T} queries`, 2 * maxWork));
      return { result, method: chosen };
    }
    case 'bit-matrix': {
      const need = estimateMatrix(T, maxEdges, steps);
      if (2 * matrixWords(T) > MAX_MATRIX_WORDS) throw new RangeError(`analyze: the bit matrix of seqLen ${T} needs more than ${MAX_MATRIX_WORDS / (1 << 18)} MiB; pass sampleQueries`);
      if (need > 4 * maxWork) throw refuse('exact receptive-field statistics over all queries', need);
      return { result: drive(new MatrixStepper(T, sources()), layers, period, T), method: chosen };
    }
    case 'sampled': {
      if (sample === undefined) throw new RangeError("analyze: method 'sampled' needs sampleQueries");
      const queries = sampleOfQueries(T, sample);
      if (period === 1) {
        const result = searchQueries(queries, T, layers, entries[0].source, maxWork, () => refuse(`receptive fields of ${queries.length} sampled queries`, 2 * maxWork));
        return { result, method: chosen };
      }
      const need = estimateWalk(queries.length, T, layers, period, maxEdges);
      if (need > maxWork) throw refuse(`receptive fields of ${queries.length} sampled queries through ${layers} layers`, need);
      return { result: walkQueries(queries, T, layers, sources(), period), method: chosen };
    }
  }
}
