/** What a benchmark run produces: one result per case, mask statistics, probes and the machine. */
import type { DType } from '../dtypes.js';
import type { BackendId, BenchConfig } from './config.js';
import type { MemoryProbeResult } from './memory.js';

export interface CaseResult {
  backend: BackendId;
  /** the pattern as given (e.g. 'dense') */
  pattern: string;
  /** the pattern's canonical string */
  canonical: string;
  seq: number;
  headDim: number;
  heads: number;
  batch: number;
  dtype: DType;
  status: 'ok' | 'skipped' | 'error';
  reason?: string;
  /** allowed (query, key) pairs over all heads (per batch element) */
  allowedPairs: number;
  /** 4·B·H·D·allowed pairs */
  flops: number;
  /** 4·B·H·D·N² */
  denseFlops: number;
  medianMs?: number;
  meanMs?: number;
  minMs?: number;
  /** relative margin of error of the mean, % */
  rme?: number;
  samples?: number;
  /** GFLOP/s on computed (allowed) edges, from the median time */
  gflops?: number;
  /** dense-equivalent GFLOP/s: 4·B·H·D·N² / median time */
  denseEqGflops?: number;
}

export interface MaskResult {
  pattern: string;
  canonical: string;
  seq: number;
  heads: number;
  blockQ: number;
  blockK: number;
  /** heads the compiled mask holds: 1 when one mask serves every head */
  maskHeads: number;
  /** tiles in the compiled mask (nnz of its CSR) */
  tiles: number;
  /** of which need a bit tile */
  partialTiles: number;
  allowedPairs: number;
  /** allowed pairs / (H·N²) */
  density: number;
  /** allowed pairs / pairs inside visited tiles */
  tileEfficiency: number;
  /** median compile time (cache cleared before each run), ms */
  compileMs: number;
  runs: number;
}

/**
 * One small dense call per (backend, dtype), timed before any case is estimated: the first
 * estimate of every series comes from it.
 */
export interface ProbeResult {
  backend: BackendId;
  dtype: DType;
  seq: number;
  headDim: number;
  /** wall time of the timed call (after one warm-up call), ms */
  ms?: number;
  /** rate of the backend's work in that call */
  gflops?: number;
  /** why the probe did not run or failed */
  error?: string;
}

export interface BenchMeta {
  date: string;
  attnflow: string;
  node: string;
  platform: string;
  cpuModel: string;
  logicalCpus: number;
  cpuBackend: { available: boolean; reason?: string; threads?: number; simd?: string[]; tile?: { blockQ: number; blockK: number } };
  maskTile: { blockQ: number; blockK: number };
  /** onnxruntime-node version; null when no ORT backend was asked for or it failed to load */
  onnxruntime: string | null;
  onnxruntimeError?: string;
  ortThreads: number;
  loadAvgStart: number[];
  loadAvgEnd: number[];
  wallS: number;
}

export interface BenchReport {
  meta: BenchMeta;
  config: BenchConfig;
  results: CaseResult[];
  masks: MaskResult[];
  probes: ProbeResult[];
  memory: MemoryProbeResult | { error: string } | null;
  /** cases not applicable to a backend (e.g. ORT with a sparse pattern), omitted from results */
  notApplicable: number;
}
