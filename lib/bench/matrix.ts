/**
 * The case matrix: sequence length × pattern × head dim × dtype × backend. Each pattern's mask is
 * compiled (and its compilation timed) once per sequence length, which gives every case its exact
 * FLOPs and the work its backend really does.
 */
import type { DType } from '../dtypes.js';
import { clearMaskCache, compileMask } from '../mask/index.js';
import type { BlockMask } from '../mask/blockmask.js';
import type { Pattern } from '../patterns/pattern.js';
import { notApplicable, resolvePattern, type BackendId, type BenchConfig } from './config.js';
import { attentionFlops, countEdges, denseFlops, type EdgeCount } from './flops.js';
import type { CaseResult, MaskResult } from './results.js';
import { median } from './timing.js';

export interface BenchPattern {
  /** as given */
  label: string;
  p: Pattern;
  canonical: string;
}

/** One case to time: a result row, still 'skipped' until it runs. */
export interface Case {
  backend: BackendId;
  pat: BenchPattern;
  seq: number;
  headDim: number;
  dtype: DType;
  res: CaseResult;
  /** FLOPs the backend really performs: visited tiles for ours, N² for the MatMul graph */
  work: number;
  /** cases of one series differ only in N: the previous N's rate estimates the next */
  series: string;
  /** cases with one shape key share their inputs */
  shapeKey: string;
}

export interface Matrix {
  cases: Case[];
  results: CaseResult[];
  masks: MaskResult[];
  /** backend/pattern/dtype/N combinations that do not apply, left out of the results */
  notApplicable: number;
}

/** Compiles the mask of (pattern, N) with the cache cleared before each run: at least 3 runs, up to ~150 ms. */
function timeCompile(pat: BenchPattern, seq: number, heads: number, tile: { blockQ: number; blockK: number }): { mask: BlockMask; times: number[] } {
  const times: number[] = [];
  let mask: BlockMask | null = null;
  const tStart = performance.now();
  while (times.length < 3 || (times.length < 25 && performance.now() - tStart < 150)) {
    clearMaskCache();
    const a = performance.now();
    mask = compileMask(pat.p, { seqQ: seq, seqK: seq, heads, blockQ: tile.blockQ, blockK: tile.blockK });
    times.push(performance.now() - a);
  }
  return { mask: mask!, times };
}

function maskResult(pat: BenchPattern, seq: number, heads: number, mask: BlockMask, e: EdgeCount, times: number[]): MaskResult {
  return {
    pattern: pat.label,
    canonical: pat.canonical,
    seq,
    heads,
    blockQ: mask.blockQ,
    blockK: mask.blockK,
    maskHeads: mask.heads,
    tiles: mask.colIdx.length,
    partialTiles: mask.partial.reduce((a, t) => a + (t >= 0 ? 1 : 0), 0),
    allowedPairs: e.allowed,
    density: e.allowed / (heads * seq * seq),
    tileEfficiency: e.tileEdges > 0 ? e.allowed / e.tileEdges : 1,
    compileMs: median(times),
    runs: times.length,
  };
}

/** The work a backend really does on a case (see Case.work). */
function backendWork(backend: BackendId, batch: number, headDim: number, edges: EdgeCount, flops: number, dflops: number): number {
  if (backend === 'ort-matmul') return dflops;
  if (backend === 'cpu' || backend === 'cuda') return attentionFlops(batch, headDim, edges.tileEdges);
  return flops;
}

/** Builds every case of the configuration; masks are compiled for `tile` (the CPU backend's). */
export function buildMatrix(cfg: BenchConfig, tile: { blockQ: number; blockK: number }): Matrix {
  const patterns = cfg.patterns.map((label): BenchPattern => {
    const p = resolvePattern(label);
    return { label, p, canonical: p.toString() };
  });
  const m: Matrix = { cases: [], results: [], masks: [], notApplicable: 0 };
  // labels with one canonical pattern ('dense' and 'full') share one compiled mask
  const edgeCache = new Map<string, EdgeCount>();
  const edgesFor = (pat: BenchPattern, seq: number): EdgeCount => {
    const key = `${pat.canonical}|${seq}`;
    let e = edgeCache.get(key);
    if (e === undefined) {
      const { mask, times } = timeCompile(pat, seq, cfg.heads, tile);
      e = countEdges(mask, cfg.heads);
      edgeCache.set(key, e);
      m.masks.push(maskResult(pat, seq, cfg.heads, mask, e, times));
    }
    return e;
  };
  for (const seq of cfg.seqs) {
    for (const pat of patterns) {
      const edges = edgesFor(pat, seq);
      for (const headDim of cfg.headDims) {
        for (const dtype of cfg.dtypes) {
          for (const backend of cfg.backends) {
            if (notApplicable(backend, pat.canonical, dtype, seq, cfg.referenceMaxSeq)) {
              m.notApplicable++;
              continue;
            }
            const flops = attentionFlops(cfg.batch, headDim, edges.allowed);
            const dflops = denseFlops(cfg.batch, cfg.heads, headDim, seq, seq);
            const res: CaseResult = {
              backend,
              pattern: pat.label,
              canonical: pat.canonical,
              seq,
              headDim,
              heads: cfg.heads,
              batch: cfg.batch,
              dtype,
              status: 'skipped',
              allowedPairs: edges.allowed,
              flops,
              denseFlops: dflops,
            };
            m.results.push(res);
            m.cases.push({
              backend,
              pat,
              seq,
              headDim,
              dtype,
              res,
              work: backendWork(backend, cfg.batch, headDim, edges, flops, dflops),
              series: `${backend}|${pat.canonical}|${headDim}|${dtype}`,
              shapeKey: `${seq}|${headDim}|${dtype}`,
            });
          }
        }
      }
    }
  }
  return m;
}
