/**
 * The benchmark runner: builds the case matrix (sequence length × head dim × dtype × pattern ×
 * backend), times each case with tinybench, measures mask compilation separately, and runs the
 * peak-memory probe in a child process. Pure data in, a BenchReport out; the CLI (cli.ts) turns
 * flags into a BenchConfig and the report into files.
 */
import os from 'node:os';
import { Bench } from 'tinybench';
import { attention, attentionSync, clearMaskCache, compileMask, cuda, info, parsePattern, Tensor, type DType, type Pattern } from '../lib/index.js';
import { attentionFlops, countEdges, denseFlops, type EdgeCount } from './flops.js';
import { runMemoryProbe, type MemoryProbeResult } from './memory.js';
import { loadOrt, ortMatmulAttention, ortMha, ortVersion, type OrtRunner } from './ort.js';
import { Progress, type ProgressStream } from './progress.js';

export type BackendId = 'cpu' | 'cuda' | 'reference' | 'ort-mha' | 'ort-matmul';
export const BACKEND_IDS: readonly BackendId[] = ['cpu', 'cuda', 'reference', 'ort-mha', 'ort-matmul'];

/** The backends a run measures when --backends is not given: 'cuda' only where a device is usable. */
export function defaultBackends(): BackendId[] {
  return BACKEND_IDS.filter((b) => b !== 'cuda' || cuda.isAvailable());
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
  memory: MemoryProbeResult | { error: string } | null;
  /** cases not applicable to a backend (e.g. ORT with a sparse pattern), omitted from results */
  notApplicable: number;
}

/** 'dense' → 'full'; other strings unchanged. */
export function patternSource(label: string): string {
  return label.trim().toLowerCase() === 'dense' ? 'full' : label;
}

/** Parses a pattern label (throws the parser's error for a bad one). */
export function resolvePattern(label: string): Pattern {
  return parsePattern(patternSource(label));
}

/** Default mask tile when the CPU backend is absent (its tile is then unknown). */
const FALLBACK_TILE = { blockQ: 64, blockK: 64 };

/** Throughput guesses (GFLOP/s) for the first case of a series, before anything is measured. */
const GUESS_GFLOPS: Record<BackendId, number> = { cpu: 4, cuda: 2000, reference: 0.5, 'ort-mha': 4, 'ort-matmul': 2 };

export interface Inputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  out: Tensor;
  /** device copies of q, k, v and out for the cuda backend (on cuda:0; once per shape) */
  device?: { q: Tensor; k: Tensor; v: Tensor; out: Tensor };
  /** float32 'bshd' copies for ORT MultiHeadAttention */
  qs?: Float32Array;
  ks?: Float32Array;
  vs?: Float32Array;
}

export function makeInputs(batch: number, heads: number, seq: number, headDim: number, dtype: DType, withBshd: boolean): Inputs {
  const shape = [batch, heads, seq, headDim];
  const q = Tensor.randn(shape, { dtype, seed: 1 });
  const k = Tensor.randn(shape, { dtype, seed: 2 });
  const v = Tensor.randn(shape, { dtype, seed: 3 });
  const out = Tensor.zeros(shape, { dtype });
  const inputs: Inputs = { q, k, v, out };
  if (withBshd) addBshd(inputs, batch, heads, seq, headDim);
  return inputs;
}

/** Adds device copies of the inputs (once). */
function addDevice(inputs: Inputs): NonNullable<Inputs['device']> {
  inputs.device ??= { q: inputs.q.to('cuda'), k: inputs.k.to('cuda'), v: inputs.v.to('cuda'), out: inputs.out.to('cuda') };
  return inputs.device;
}

/** Frees the device copies of the inputs now rather than at garbage collection. */
function releaseInputs(inputs: Inputs | undefined): void {
  const d = inputs?.device;
  if (d) for (const t of [d.q, d.k, d.v, d.out]) t.dispose();
}

/** Adds float32 [B, N, H·D] inputs for ORT MultiHeadAttention (once). */
export function addBshd(inputs: Inputs, batch: number, heads: number, seq: number, headDim: number): void {
  if (inputs.qs) return;
  const bshd = [batch, seq, heads, headDim];
  inputs.qs = Tensor.randn(bshd, { seed: 4, layout: 'bshd' }).data as Float32Array;
  inputs.ks = Tensor.randn(bshd, { seed: 5, layout: 'bshd' }).data as Float32Array;
  inputs.vs = Tensor.randn(bshd, { seed: 6, layout: 'bshd' }).data as Float32Array;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Why a backend cannot run a case at all (then it is left out of the results), or null. */
function notApplicable(backend: BackendId, canonical: string, dtype: DType, seq: number, referenceMaxSeq: number): string | null {
  if (backend === 'reference' && seq > referenceMaxSeq) return `the reference backend runs only at N ≤ ${referenceMaxSeq}`;
  if (backend === 'ort-mha' || backend === 'ort-matmul') {
    if (dtype !== 'float32') return 'ORT peers run float32 only';
    if (backend === 'ort-matmul' && canonical !== 'full') return 'the MatMul graph is dense only';
    if (backend === 'ort-mha' && canonical !== 'full' && canonical !== 'causal') return 'MultiHeadAttention runs dense or causal only';
  }
  return null;
}

/** Times fn with tinybench: one warm-up call, then at least `iterations` calls and `time` ms. */
export async function timeTask(name: string, fn: () => unknown, time: number, iterations: number): Promise<{ median: number; mean: number; min: number; rme: number; samples: number }> {
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

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`;
}

export interface RunOptions {
  stderr: ProgressStream;
}

export async function runBench(cfg: BenchConfig, opts: RunOptions): Promise<BenchReport> {
  const t0 = performance.now();
  // the memory probe runs last and is not subject to the budget: keep time for it
  const memoryReserveS = cfg.memory ? Math.min(0.15 * cfg.budgetS, 5 + (cfg.memory.seq * cfg.memory.heads) / 65536 / 2) : 0;
  const deadline = t0 + (cfg.budgetS - memoryReserveS) * 1000;
  const loadAvgStart = os.loadavg();
  const inf = info();
  const cpu = inf.backends.cpu;
  const ortLoad = cfg.backends.some((b) => b.startsWith('ort-')) ? await loadOrt() : null;
  const ortError = ortLoad && 'error' in ortLoad ? ortLoad.error : undefined;
  const ortThreads = cfg.threads ?? cpu.threads ?? os.availableParallelism();
  const tile = cpu.tile ?? FALLBACK_TILE;

  const patterns = cfg.patterns.map((label) => {
    const p = resolvePattern(label);
    return { label, p, canonical: p.toString() };
  });

  const results: CaseResult[] = [];
  const masks: MaskResult[] = [];
  const edgeCache = new Map<string, EdgeCount>();
  const totalMem = os.totalmem();

  const edgesFor = (pat: (typeof patterns)[number], seq: number): EdgeCount => {
    const key = `${pat.canonical}|${seq}`;
    let e = edgeCache.get(key);
    if (e) return e;
    // Mask compile time, cache cleared before each run; at least 3 runs, up to ~150 ms.
    const times: number[] = [];
    let mask = null;
    const tStart = performance.now();
    while (times.length < 3 || (times.length < 25 && performance.now() - tStart < 150)) {
      clearMaskCache();
      const a = performance.now();
      mask = compileMask(pat.p, { seqQ: seq, seqK: seq, heads: cfg.heads, blockQ: tile.blockQ, blockK: tile.blockK });
      times.push(performance.now() - a);
    }
    e = countEdges(mask!, cfg.heads);
    edgeCache.set(key, e);
    masks.push({
      pattern: pat.label,
      canonical: pat.canonical,
      seq,
      heads: cfg.heads,
      blockQ: tile.blockQ,
      blockK: tile.blockK,
      maskHeads: mask!.heads,
      tiles: mask!.colIdx.length,
      partialTiles: mask!.partial.reduce((a, t) => a + (t >= 0 ? 1 : 0), 0),
      allowedPairs: e.allowed,
      density: e.allowed / (cfg.heads * seq * seq),
      tileEfficiency: e.tileEdges > 0 ? e.allowed / e.tileEdges : 1,
      compileMs: median(times),
      runs: times.length,
    });
    return e;
  };

  // The case matrix. Masks are compiled (and timed) up front, which gives every case its FLOPs.
  interface Case {
    backend: BackendId;
    pat: (typeof patterns)[number];
    seq: number;
    headDim: number;
    dtype: DType;
    res: CaseResult;
    /** FLOPs the backend really performs: visited tiles for ours, N² for the MatMul graph */
    work: number;
    series: string;
    shapeKey: string;
  }
  const pending: Case[] = [];
  let notApplicableCount = 0;
  for (const seq of cfg.seqs) {
    for (const pat of patterns) {
      const edges = edgesFor(pat, seq);
      for (const headDim of cfg.headDims) {
        for (const dtype of cfg.dtypes) {
          for (const backend of cfg.backends) {
            if (notApplicable(backend, pat.canonical, dtype, seq, cfg.referenceMaxSeq)) {
              notApplicableCount++;
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
            results.push(res);
            const work = backend === 'ort-matmul' ? dflops : backend === 'cpu' || backend === 'cuda' ? attentionFlops(cfg.batch, headDim, edges.tileEdges) : flops;
            pending.push({ backend, pat, seq, headDim, dtype, res, work, series: `${backend}|${pat.canonical}|${headDim}|${dtype}`, shapeKey: `${seq}|${headDim}|${dtype}` });
          }
        }
      }
    }
  }
  const progress = new Progress(opts.stderr, pending.length + (cfg.memory ? 1 : 0));

  /** measured GFLOP/s (of `work`) per series and, as a fallback, per backend */
  const seriesRate = new Map<string, number>();
  const backendRate = new Map<string, number>();
  const estimateMs = (c: Case) => (c.work / ((seriesRate.get(c.series) ?? backendRate.get(`${c.backend}|${c.dtype}`) ?? GUESS_GFLOPS[c.backend]) * 1e9)) * 1000;

  // Inputs are generated once per shape and dropped when no pending case needs them.
  const inputCache = new Map<string, Inputs>();
  const remainingPerShape = new Map<string, number>();
  for (const c of pending) remainingPerShape.set(c.shapeKey, (remainingPerShape.get(c.shapeKey) ?? 0) + 1);
  const doneWith = (c: Case) => {
    const n = (remainingPerShape.get(c.shapeKey) ?? 1) - 1;
    remainingPerShape.set(c.shapeKey, n);
    if (n <= 0) {
      releaseInputs(inputCache.get(c.shapeKey));
      inputCache.delete(c.shapeKey);
    }
  };

  // Cheapest case first (by the current estimate): the time budget, when it runs out, leaves out
  // the most expensive cases, and each series is measured in ascending N so that the estimate for
  // the next N comes from the previous one.
  while (pending.length) {
    let bi = 0;
    let best = Infinity;
    for (let i = 0; i < pending.length; i++) {
      const e = estimateMs(pending[i]);
      if (e < best) {
        best = e;
        bi = i;
      }
    }
    const c = pending.splice(bi, 1)[0];
    const res = c.res;
    const estMs = best;
    const label = `${c.backend} ${c.pat.label} N=${c.seq} D=${c.headDim} ${c.dtype}`;
    progress.start(label);
    if (c.backend === 'cpu' && !cpu.available) res.reason = `native CPU backend unavailable: ${cpu.reason ?? ''}`.trim();
    else if (c.backend === 'cuda' && !cuda.isAvailable()) res.reason = `CUDA backend unavailable: ${cuda.unavailableReason('cuda:0')}`;
    else if (c.backend.startsWith('ort-') && ortError) res.reason = `onnxruntime-node unavailable: ${ortError}`;
    else if (c.backend === 'ort-matmul' && 3 * 4 * cfg.batch * cfg.heads * c.seq * c.seq > 0.5 * totalMem) res.reason = `score matrices would need ${((3 * 4 * cfg.batch * cfg.heads * c.seq * c.seq) / 2 ** 30).toFixed(1)} GiB`;
    else if (estMs > cfg.maxCallMs) res.reason = `estimated ${fmtMs(estMs)} per call > --max-call-ms ${cfg.maxCallMs}`;
    else if (performance.now() + (cfg.minIterations + 1) * estMs > deadline) res.reason = `time budget of ${cfg.budgetS} s spent`;
    if (res.reason) {
      progress.step(label, `skipped (${res.reason})`);
      doneWith(c);
      continue;
    }
    let ort: OrtRunner | null = null;
    try {
      let inp = inputCache.get(c.shapeKey);
      if (!inp) {
        inp = makeInputs(cfg.batch, cfg.heads, c.seq, c.headDim, c.dtype, false);
        inputCache.set(c.shapeKey, inp);
      }
      const x = inp;
      if (c.backend === 'ort-mha') addBshd(x, cfg.batch, cfg.heads, c.seq, c.headDim);
      const shape = { batch: cfg.batch, heads: cfg.heads, seq: c.seq, headDim: c.headDim };
      let fn: () => unknown;
      if (c.backend === 'cpu') {
        fn = () => attention(x.q, x.k, x.v, { pattern: c.pat.p, backend: 'cpu', out: x.out });
      } else if (c.backend === 'cuda') {
        // Resolves once the kernel has finished (the worker waits on the stream): wall time per call.
        const d = addDevice(x);
        fn = () => attention(d.q, d.k, d.v, { pattern: c.pat.p, backend: 'cuda', out: d.out });
      } else if (c.backend === 'reference') {
        fn = () => attentionSync(x.q, x.k, x.v, { pattern: c.pat.p, backend: 'reference', out: x.out });
      } else if (c.backend === 'ort-mha') {
        ort = await ortMha({ ...shape, causal: c.pat.canonical === 'causal' }, x.qs!, x.ks!, x.vs!, { threads: ortThreads });
        const r = ort;
        fn = () => r.run();
      } else {
        ort = await ortMatmulAttention(shape, x.q.data as Float32Array, x.k.data as Float32Array, x.v.data as Float32Array, { threads: ortThreads });
        const r = ort;
        fn = () => r.run();
      }
      const iterations = estMs > cfg.timeMs ? cfg.minIterations : Math.max(cfg.minIterations, 3);
      const t = await timeTask(label, fn, cfg.timeMs, iterations);
      res.status = 'ok';
      res.medianMs = t.median;
      res.meanMs = t.mean;
      res.minMs = t.min;
      res.rme = t.rme;
      res.samples = t.samples;
      res.gflops = res.flops / (t.median * 1e6);
      res.denseEqGflops = res.denseFlops / (t.median * 1e6);
      const rate = c.work / (t.median * 1e6);
      seriesRate.set(c.series, rate);
      backendRate.set(`${c.backend}|${c.dtype}`, rate);
      progress.step(label, `${fmtMs(t.median)}, ${res.gflops.toFixed(1)} GFLOP/s`);
    } catch (e) {
      res.status = 'error';
      res.reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
      progress.step(label, `error: ${res.reason}`);
    } finally {
      await ort?.release().catch(() => undefined);
      doneWith(c);
    }
  }
  for (const inp of inputCache.values()) releaseInputs(inp);
  inputCache.clear();

  let memory: BenchReport['memory'] = null;
  if (cfg.memory) {
    const m = cfg.memory;
    const label = `peak memory: cpu ${m.pattern} N=${m.seq} H=${m.heads} D=${m.headDim} (child process)`;
    progress.start(label);
    if (!cpu.available) {
      memory = { error: `native CPU backend unavailable: ${cpu.reason ?? ''}` };
      progress.step(label, 'skipped (no CPU backend)');
    } else {
      try {
        const r = await runMemoryProbe({ seq: m.seq, heads: m.heads, headDim: m.headDim, batch: 1, pattern: patternSource(m.pattern), dtype: 'float32', backend: 'cpu' });
        memory = r;
        progress.step(label, `peak ${(r.peakRss / 2 ** 20).toFixed(0)} MiB = tensors ${(r.tensorBytes / 2 ** 20).toFixed(0)} MiB + ${(r.peakMinusTensors / 2 ** 20).toFixed(1)} MiB`);
      } catch (e) {
        memory = { error: e instanceof Error ? e.message : String(e) };
        progress.step(label, `error: ${memory.error}`);
      }
    }
  }

  const wallS = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 'ok').length;
  progress.finish(`bench: ${ok} cases timed, ${results.length - ok} skipped or failed, ${wallS.toFixed(0)} s`);
  return {
    meta: {
      date: new Date().toISOString(),
      attnflow: inf.version,
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      logicalCpus: os.availableParallelism(),
      cpuBackend: { available: cpu.available, reason: cpu.reason, threads: cpu.threads, simd: cpu.simd, tile: cpu.tile },
      maskTile: tile,
      onnxruntime: ortLoad ? await ortVersion() : null,
      ...(ortError ? { onnxruntimeError: ortError } : {}),
      ortThreads,
      loadAvgStart,
      loadAvgEnd: os.loadavg(),
      wallS,
    },
    config: cfg,
    results,
    masks,
    memory,
    notApplicable: notApplicableCount,
  };
}
