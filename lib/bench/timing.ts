/** Timing primitives of the benchmark: tinybench for the cases, one plain call for the probes. */
import { Bench } from 'tinybench';

export interface Timing {
  median: number;
  mean: number;
  min: number;
  rme: number;
  samples: number;
}

/** Times fn with tinybench: one warm-up call, then at least `iterations` calls and `time` ms. */
export async function timeTask(name: string, fn: () => unknown, time: number, iterations: number): Promise<Timing> {
  const bench = new Bench({ name, time, iterations, warmup: true, warmupIterations: 1, warmupTime: 0, throws: true });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]?.result;
  if (!r || !('latency' in r)) {
    const err = r && 'error' in r ? (r as { error: Error }).error : undefined;
    throw err ?? new Error(`task did not complete (${r?.state ?? 'no result'})`);
  }
  return { median: r.latency.p50, mean: r.latency.mean, min: r.latency.min, rme: r.latency.rme, samples: r.latency.samplesCount };
}

/** Wall time of one call of fn after one warm-up call (which pays first-call costs), ms. */
export async function timeOnce(fn: () => unknown): Promise<number> {
  await fn();
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`;
}
