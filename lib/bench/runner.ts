/**
 * The benchmark run, in stages: build the case matrix (matrix.ts, masks compiled and timed there),
 * skip what cannot run here, probe each backend with one small call (estimate.ts), time the cases
 * cheapest first within the wall-clock budget, then run the peak-memory probe in a child process
 * (memory.ts). Pure data in, a BenchReport out; the CLI (cli.ts) turns flags into a BenchConfig and
 * the report into files.
 */
import os from 'node:os';
import { info, type AttnflowInfo } from '../info.js';
import { cuda } from '../native/cuda.js';
import { isPeer, patternSource, type BenchConfig } from './config.js';
import { prepareCall, type CallContext, type PreparedCall } from './calls.js';
import { probeBackends, Rates } from './estimate.js';
import { InputCache, makeInputs } from './inputs.js';
import { buildMatrix, type Case } from './matrix.js';
import { runMemoryProbe } from './memory.js';
import { loadPeerHarness, openPeers, type PeerLoader } from './peers.js';
import { Progress, type ProgressStream } from './progress.js';
import type { BenchReport, ProbeResult } from './results.js';
import { fmtMs, timeTask } from './timing.js';

export type { BackendId, BenchConfig, MemorySpec } from './config.js';
export { BACKEND_IDS, patternSource, resolvePattern } from './config.js';
export type { BenchMeta, BenchReport, CaseResult, MaskResult, ProbeResult } from './results.js';
export { addBshd, makeInputs, type Inputs } from './inputs.js';
export { timeTask } from './timing.js';

export interface RunOptions {
  stderr: ProgressStream;
  /** finds the peers' harness (default: the compiled bench/peers.ts of a development checkout) */
  peers?: PeerLoader;
}

/** Default mask tile when the CPU backend is absent (its tile is then unknown). */
const FALLBACK_TILE = { blockQ: 64, blockK: 64 };

type CpuStatus = AttnflowInfo['backends']['cpu'];

/** The peers' harness with its runtime, or why they cannot run (loaded only when a peer was asked for). */
async function openPeersFor(cfg: BenchConfig, opts: RunOptions, cpuThreads: number | undefined): Promise<{ ctx: CallContext; version: string | null; error?: string }> {
  const peerThreads = cfg.threads ?? cpuThreads ?? os.availableParallelism();
  const asked = cfg.backends.filter(isPeer);
  if (asked.length === 0) return { ctx: { peers: null, peerThreads }, version: null };
  const opened = await openPeers(opts.peers ?? loadPeerHarness);
  if ('error' in opened) {
    opts.stderr.write(`attnflow bench: ${asked.join(', ')} skipped: ${opened.error}\n`);
    return { ctx: { peers: null, peerThreads }, version: null, error: opened.error };
  }
  return { ctx: { peers: opened.harness, peerThreads }, version: opened.version };
}

/** Why a case cannot run on this machine at all (whatever its cost), or null. */
function unavailable(c: Case, cfg: BenchConfig, cpu: CpuStatus, peerError: string | undefined): string | null {
  if (c.backend === 'cpu' && !cpu.available) return `native CPU backend unavailable: ${cpu.reason ?? ''}`.trim();
  if (c.backend === 'cuda' && !cuda.isAvailable()) return `CUDA backend unavailable: ${cuda.unavailableReason('cuda:0')}`;
  if (isPeer(c.backend) && peerError !== undefined) return `${c.backend} unavailable: ${peerError}`;
  const scoreBytes = 3 * 4 * cfg.batch * cfg.heads * c.seq * c.seq;
  if (c.backend === 'ort-matmul' && scoreBytes > 0.5 * os.totalmem()) return `score matrices would need ${(scoreBytes / 2 ** 30).toFixed(1)} GiB`;
  return null;
}

/** Marks a case not run (skipped, or failed with an error) and advances the progress bar. */
function settle(c: Case, progress: Progress, status: 'skipped' | 'error', reason: string): void {
  c.res.status = status;
  c.res.reason = reason;
  progress.step(caseLabel(c), `${status === 'error' ? 'error' : 'skipped'}: ${reason}`);
}

function caseLabel(c: Case): string {
  return `${c.backend} ${c.pat.label} N=${c.seq} D=${c.headDim} ${c.dtype}`;
}

/** Cases whose (backend, dtype) probe failed cannot be estimated: they fail with the probe's error. */
function failUnprobed(cases: Case[], probes: readonly ProbeResult[], progress: Progress): Case[] {
  const failed = new Map(probes.filter((p) => p.error !== undefined).map((p) => [`${p.backend}|${p.dtype}`, p.error!]));
  return cases.filter((c) => {
    const error = failed.get(`${c.backend}|${c.dtype}`);
    if (error !== undefined) settle(c, progress, 'error', `probe call failed: ${error}`);
    return error === undefined;
  });
}

/** The cheapest pending case by the current estimate, removed from `pending`. */
function takeCheapest(pending: Case[], rates: Rates): { c: Case; estMs: number } {
  let bi = 0;
  let best = Infinity;
  for (let i = 0; i < pending.length; i++) {
    const e = rates.estimateMs(pending[i]);
    if (e < best || i === 0) {
      best = e;
      bi = i;
    }
  }
  return { c: pending.splice(bi, 1)[0], estMs: best };
}

/** Times one case and records its result and rate; errors become the case's reason. */
async function timeCase(c: Case, estMs: number, cfg: BenchConfig, ctx: CallContext, inputs: InputCache, rates: Rates, progress: Progress): Promise<void> {
  const res = c.res;
  const label = caseLabel(c);
  let call: PreparedCall | null = null;
  try {
    const x = inputs.get(c.shapeKey, () => makeInputs(cfg.batch, cfg.heads, c.seq, c.headDim, c.dtype, false));
    call = await prepareCall({ backend: c.backend, pattern: c.pat.p, canonical: c.pat.canonical, batch: cfg.batch, heads: cfg.heads, seq: c.seq, headDim: c.headDim, dtype: c.dtype }, x, ctx);
    const iterations = estMs > cfg.timeMs ? cfg.minIterations : Math.max(cfg.minIterations, 3);
    const t = await timeTask(label, call.fn, cfg.timeMs, iterations);
    res.status = 'ok';
    res.medianMs = t.median;
    res.meanMs = t.mean;
    res.minMs = t.min;
    res.rme = t.rme;
    res.samples = t.samples;
    res.gflops = res.flops / (t.median * 1e6);
    res.denseEqGflops = res.denseFlops / (t.median * 1e6);
    rates.measured(c, c.work / (t.median * 1e6));
    progress.step(label, `${fmtMs(t.median)}, ${res.gflops.toFixed(1)} GFLOP/s`);
  } catch (e) {
    res.status = 'error';
    res.reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    progress.step(label, `error: ${res.reason}`);
  } finally {
    await call?.release();
    inputs.done(c.shapeKey);
  }
}

/**
 * Times the cases cheapest first (by the current estimate): the time budget, when it runs out,
 * leaves out the most expensive cases, and each series is measured in ascending N so that the
 * estimate for the next N comes from the previous one.
 */
async function timeCases(cases: Case[], cfg: BenchConfig, ctx: CallContext, rates: Rates, deadline: number, progress: Progress): Promise<void> {
  const inputs = new InputCache();
  for (const c of cases) inputs.expect(c.shapeKey);
  const pending = [...cases];
  while (pending.length) {
    const { c, estMs } = takeCheapest(pending, rates);
    progress.start(caseLabel(c));
    let reason: string | null = null;
    if (estMs > cfg.maxCallMs) reason = `estimated ${fmtMs(estMs)} per call (from a measured ${rates.rate(c)!.toFixed(1)} GFLOP/s) > --max-call-ms ${cfg.maxCallMs}`;
    else if (performance.now() + (cfg.minIterations + 1) * estMs > deadline) reason = `time budget of ${cfg.budgetS} s spent`;
    if (reason !== null) {
      settle(c, progress, 'skipped', reason);
      inputs.done(c.shapeKey);
      continue;
    }
    await timeCase(c, estMs, cfg, ctx, inputs, rates, progress);
  }
  inputs.releaseAll();
}

/** The peak-memory probe of the CPU backend, in a child process. */
async function measureMemory(cfg: BenchConfig, cpu: CpuStatus, progress: Progress): Promise<BenchReport['memory']> {
  if (!cfg.memory) return null;
  const m = cfg.memory;
  const label = `peak memory: cpu ${m.pattern} N=${m.seq} H=${m.heads} D=${m.headDim} (child process)`;
  progress.start(label);
  if (!cpu.available) {
    progress.step(label, 'skipped (no CPU backend)');
    return { error: `native CPU backend unavailable: ${cpu.reason ?? ''}` };
  }
  try {
    const r = await runMemoryProbe({ seq: m.seq, heads: m.heads, headDim: m.headDim, batch: 1, pattern: patternSource(m.pattern), dtype: 'float32', backend: 'cpu' });
    progress.step(label, `peak ${(r.peakRss / 2 ** 20).toFixed(0)} MiB = tensors ${(r.tensorBytes / 2 ** 20).toFixed(0)} MiB + ${(r.peakMinusTensors / 2 ** 20).toFixed(1)} MiB`);
    return r;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    progress.step(label, `error: ${error}`);
    return { error };
  }
}

export async function runBench(cfg: BenchConfig, opts: RunOptions): Promise<BenchReport> {
  const t0 = performance.now();
  // the memory probe runs last and is not subject to the budget: keep time for it
  const memoryReserveS = cfg.memory ? Math.min(0.15 * cfg.budgetS, 5 + (cfg.memory.seq * cfg.memory.heads) / 65536 / 2) : 0;
  const deadline = t0 + (cfg.budgetS - memoryReserveS) * 1000;
  const loadAvgStart = os.loadavg();
  const inf = info();
  const cpu = inf.backends.cpu;
  const peers = await openPeersFor(cfg, opts, cpu.threads);
  const tile = cpu.tile ?? FALLBACK_TILE;

  const matrix = buildMatrix(cfg, tile);
  const progress = new Progress(opts.stderr, matrix.cases.length + (cfg.memory ? 1 : 0));
  const runnable = matrix.cases.filter((c) => {
    const why = unavailable(c, cfg, cpu, peers.error);
    if (why !== null) settle(c, progress, 'skipped', why);
    return why === null;
  });
  const rates = new Rates();
  const probes = await probeBackends(runnable, cfg, peers.ctx, rates, (label) => progress.start(label));
  await timeCases(failUnprobed(runnable, probes, progress), cfg, peers.ctx, rates, deadline, progress);
  const memory = await measureMemory(cfg, cpu, progress);

  const wallS = (performance.now() - t0) / 1000;
  const ok = matrix.results.filter((r) => r.status === 'ok').length;
  progress.finish(`bench: ${ok} cases timed, ${matrix.results.length - ok} skipped or failed, ${wallS.toFixed(0)} s`);
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
      onnxruntime: peers.version,
      ...(peers.error ? { onnxruntimeError: peers.error } : {}),
      ortThreads: peers.ctx.peerThreads,
      loadAvgStart,
      loadAvgEnd: os.loadavg(),
      wallS,
    },
    config: cfg,
    results: matrix.results,
    masks: matrix.masks,
    probes,
    memory,
    notApplicable: matrix.notApplicable,
  };
}
