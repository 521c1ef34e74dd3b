/** What one `attnflow bench` run measures: the backends, the case matrix and the limits. */
import type { DType } from '../dtypes.js';
import { parsePattern } from '../patterns/index.js';
import type { Pattern } from '../patterns/pattern.js';

export type BackendId = 'cpu' | 'cuda' | 'reference' | 'ort-mha' | 'ort-matmul';
export const BACKEND_IDS: readonly BackendId[] = ['cpu', 'cuda', 'reference', 'ort-mha', 'ort-matmul'];

/** The peers: ONNX Runtime graphs, run through the development harness (see peers.ts). */
export type PeerId = 'ort-mha' | 'ort-matmul';
export const PEER_IDS: readonly PeerId[] = ['ort-mha', 'ort-matmul'];

export function isPeer(b: BackendId): b is PeerId {
  return b === 'ort-mha' || b === 'ort-matmul';
}

export interface MemorySpec {
  seq: number;
  pattern: string;
  heads: number;
  headDim: number;
}

export interface BenchConfig {
  quick: boolean;
  seqs: number[];
  /** pattern strings as given; 'dense' is accepted for 'full' */
  patterns: string[];
  backends: BackendId[];
  dtypes: DType[];
  headDims: number[];
  heads: number;
  batch: number;
  /** tinybench time budget per case, ms */
  timeMs: number;
  /** minimum timed iterations per case */
  minIterations: number;
  /** skip a case whose single call is estimated to take longer than this, ms */
  maxCallMs: number;
  /** wall-clock budget for the whole run, s: cases left when it is spent are skipped */
  budgetS: number;
  /** the reference backend runs only up to this sequence length */
  referenceMaxSeq: number;
  /** ONNX Runtime intra-op threads; default: the attnflow CPU backend's thread count */
  threads?: number;
  /** peak-memory probe; null to skip */
  memory: MemorySpec | null;
}

/** 'dense' → 'full'; other strings unchanged. */
export function patternSource(label: string): string {
  return label.trim().toLowerCase() === 'dense' ? 'full' : label;
}

/** Parses a pattern label (throws the parser's error for a bad one). */
export function resolvePattern(label: string): Pattern {
  return parsePattern(patternSource(label));
}

/** Why a backend cannot run a case at all (then it is left out of the results), or null. */
export function notApplicable(backend: BackendId, canonical: string, dtype: DType, seq: number, referenceMaxSeq: number): string | null {
  if (backend === 'reference' && seq > referenceMaxSeq) return `the reference backend runs only at N ≤ ${referenceMaxSeq}`;
  if (isPeer(backend)) {
    if (dtype !== 'float32') return 'ORT peers run float32 only';
    if (backend === 'ort-matmul' && canonical !== 'full') return 'the MatMul graph is dense only';
    if (backend === 'ort-mha' && canonical !== 'full' && canonical !== 'causal') return 'MultiHeadAttention runs dense or causal only';
  }
  return null;
}
