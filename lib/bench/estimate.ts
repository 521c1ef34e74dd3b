/**
 * How long a case's call will take, from measured rates: each backend's rate is first measured
 * by one small dense call (a probe) before any case is estimated, then every timed case refines
 * the rate of its series (same backend, pattern, head dim and dtype), so that the estimate for the
 * next sequence length comes from the previous one. Nothing is estimated from a guess.
 */
import type { DType } from '../dtypes.js';
import { toPattern } from '../patterns/index.js';
import type { BackendId, BenchConfig } from './config.js';
import { prepareCall, type CallContext } from './calls.js';
import { denseFlops } from './flops.js';
import { makeInputs, releaseInputs } from './inputs.js';
import type { Case } from './matrix.js';
import type { ProbeResult } from './results.js';
import { timeOnce } from './timing.js';

/** the longest sequence a probe runs */
export const PROBE_SEQ = 256;

/** Measured rates (GFLOP/s of each case's own work), by series and by backend and dtype. */
export class Rates {
  readonly #series = new Map<string, number>();
  readonly #backend = new Map<string, number>();

  /** The rate a case is estimated with: its series', else its backend's; undefined before any measurement. */
  rate(c: Case): number | undefined {
    return this.#series.get(c.series) ?? this.#backend.get(`${c.backend}|${c.dtype}`);
  }

  /** Estimated ms of one call of the case (Infinity when nothing was measured for it). */
  estimateMs(c: Case): number {
    const r = this.rate(c);
    return r === undefined ? Infinity : (c.work / (r * 1e9)) * 1000;
  }

  /** A probe's rate: the first estimate of every series of the backend and dtype. */
  probed(backend: BackendId, dtype: DType, gflops: number): void {
    this.#backend.set(`${backend}|${dtype}`, gflops);
  }

  /** A timed case's rate. */
  measured(c: Case, gflops: number): void {
    this.#series.set(c.series, gflops);
    this.#backend.set(`${c.backend}|${c.dtype}`, gflops);
  }
}

/** The (backend, dtype) pairs of the cases, each with the smallest sequence length and head dim among them. */
function probeSpecs(cases: readonly Case[]): { backend: BackendId; dtype: DType; seq: number; headDim: number }[] {
  const byPair = new Map<string, { backend: BackendId; dtype: DType; seq: number; headDim: number }>();
  for (const c of cases) {
    const key = `${c.backend}|${c.dtype}`;
    const p = byPair.get(key);
    if (p === undefined) byPair.set(key, { backend: c.backend, dtype: c.dtype, seq: Math.min(PROBE_SEQ, c.seq), headDim: c.headDim });
    else {
      p.seq = Math.min(p.seq, c.seq);
      p.headDim = Math.min(p.headDim, c.headDim);
    }
  }
  return [...byPair.values()];
}

/**
 * Times one small dense call (after a warm-up call) per (backend, dtype) of `cases` and records
 * its rate. A failed probe is reported with its error, and no rate is recorded for its pair.
 */
export async function probeBackends(cases: readonly Case[], cfg: BenchConfig, ctx: CallContext, rates: Rates, onProbe: (label: string) => void): Promise<ProbeResult[]> {
  const full = toPattern('full');
  const results: ProbeResult[] = [];
  for (const s of probeSpecs(cases)) {
    onProbe(`probe ${s.backend} N=${s.seq} D=${s.headDim} ${s.dtype}`);
    const inputs = makeInputs(cfg.batch, cfg.heads, s.seq, s.headDim, s.dtype, false);
    let release = async (): Promise<void> => undefined;
    try {
      const call = await prepareCall({ ...s, pattern: full, canonical: 'full', batch: cfg.batch, heads: cfg.heads }, inputs, ctx);
      release = call.release;
      const ms = await timeOnce(call.fn);
      const gflops = denseFlops(cfg.batch, cfg.heads, s.headDim, s.seq, s.seq) / (Math.max(ms, 1e-3) * 1e6);
      rates.probed(s.backend, s.dtype, gflops);
      results.push({ ...s, ms, gflops });
    } catch (e) {
      results.push({ ...s, error: e instanceof Error ? e.message.split('\n')[0] : String(e) });
    } finally {
      await release();
      releaseInputs(inputs);
    }
  }
  return results;
}
