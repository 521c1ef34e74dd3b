/**
 * The CPU goals of issue 4, measured on this machine in one run:
 *
 *  1. dense, non-causal float32 attention, B=1, H=8, D=64, N=4096: attnflow cpu against ONNX
 *     Runtime's MultiHeadAttention and its unfused MatMul graph (GFLOP/s and ratios);
 *  2. `causal & sliding(256)` against dense causal at N=16384 (speedup; goal ≥ 15×);
 *  3. peak memory of `causal & sliding(1024)` at N=65536, H=8, D=64 in a child process
 *     (goal: tensors + < 64 MB);
 *  4. the machine's sgemm peak, measured in the same run as an ORT MatMul of 2048×2048 float32
 *     (2·N³ FLOPs), the yardstick for the GFLOP/s above.
 *
 * Usage: node dist-bench/bench/cpu-goals.js [--quick] [--json FILE] [--threads N]
 * Prints a Markdown table on stdout; progress on stderr.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { attention, compileMask, info, parsePattern } from '../lib/index.js';
import { attentionFlops, countEdges, denseFlops } from '../lib/bench/flops.js';
import { runMemoryProbe, type MemoryProbeResult } from '../lib/bench/memory.js';
import { loadOrt, ortMatmulAttention, ortMha, ortSgemm, ortVersion } from './ort.js';
import { makeInputs, timeTask } from '../lib/bench/runner.js';

const MB = 1e6;
const MIB = 2 ** 20;

interface Timing {
  ms: number;
  samples: number;
  gflops: number;
}

interface GoalsReport {
  date: string;
  machine: { cpu: string; logicalCpus: number; loadAvgStart: number[]; loadAvgEnd: number[] };
  attnflow: { version: string; threads?: number; kernel?: string; simd?: string[]; tile?: { blockQ: number; blockK: number } };
  onnxruntime: string | null;
  ortThreads: number;
  sgemm: (Timing & { n: number; bestMs: number; bestGflops: number }) | { error: string };
  dense4096: { cpu: Timing | { error: string }; ortMha: Timing | { error: string }; ortMatmul: Timing | { error: string } };
  sparse16384: { causal: Timing | { error: string }; sliding: Timing | { error: string }; speedup: number | null; goal: number };
  memory65536: (MemoryProbeResult & { goalBytes: number }) | { error: string };
}

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

async function measure(label: string, fn: () => unknown, flops: number, iterations: number): Promise<Timing | { error: string }> {
  log(`  ${label} …`);
  try {
    const t = await timeTask(label, fn, 0, iterations);
    const r = { ms: t.median, samples: t.samples, gflops: flops / (t.median * 1e6) };
    log(`  ${label}: ${r.ms.toFixed(1)} ms, ${r.gflops.toFixed(1)} GFLOP/s`);
    return r;
  } catch (e) {
    const error = e instanceof Error ? e.message.split('\n')[0] : String(e);
    log(`  ${label}: error: ${error}`);
    return { error };
  }
}

function isTiming(x: Timing | { error: string }): x is Timing {
  return !('error' in x);
}

function fmtMs(x: Timing | { error: string }): string {
  if (!isTiming(x)) return `error: ${x.error}`;
  return x.ms >= 1000 ? `${(x.ms / 1000).toFixed(2)} s` : `${x.ms.toFixed(1)} ms`;
}

function fmtG(x: Timing | { error: string }): string {
  return isTiming(x) ? x.gflops.toFixed(1) : '—';
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, json: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: node dist-bench/bench/cpu-goals.js [--quick] [--json FILE] [--threads N]\n');
    return 0;
  }
  const quick = values.quick === true;
  const inf = info();
  const cpu = inf.backends.cpu;
  if (!cpu.available) {
    log(`cpu-goals: the native CPU backend is unavailable: ${cpu.reason}`);
    return 1;
  }
  const ortThreads = values.threads ? Number(values.threads) : (cpu.threads ?? os.availableParallelism());
  const ort = await loadOrt();
  const ortErr = 'error' in ort ? ort.error : null;
  const loadAvgStart = os.loadavg();
  const iters = quick ? 2 : 5;

  // 4. sgemm peak, measured at the start and again at the end of the run (the better one counts,
  // so that a burst of load on a shared machine does not understate the peak)
  const n = 2048;
  const sgemmRuns: { median: number; min: number; samples: number }[] = [];
  const sgemmOnce = async (when: string) => {
    if (ortErr) return;
    log(`sgemm peak (${when}): ORT MatMul ${n}×${n} float32`);
    const g = await ortSgemm(n, { threads: ortThreads });
    const t = await timeTask('sgemm', () => g.run(), 0, quick ? 3 : 8);
    await g.release();
    sgemmRuns.push(t);
    log(`  median ${t.median.toFixed(1)} ms, best ${t.min.toFixed(1)} ms (${((2 * n ** 3) / (t.min * 1e6)).toFixed(1)} GFLOP/s)`);
  };
  await sgemmOnce('start');

  // 1. dense N=4096
  log('dense float32 attention, B=1, H=8, N=4096, D=64');
  const shape = { batch: 1, heads: 8, seq: 4096, headDim: 64 };
  const dflops = denseFlops(1, 8, 64, 4096, 4096);
  const dense4096: GoalsReport['dense4096'] = { cpu: { error: 'not run' }, ortMha: { error: 'not run' }, ortMatmul: { error: 'not run' } };
  {
    const inp = makeInputs(1, 8, 4096, 64, 'float32', !ortErr);
    const full = parsePattern('full');
    dense4096.cpu = await measure('attnflow cpu', () => attention(inp.q, inp.k, inp.v, { pattern: full, backend: 'cpu', out: inp.out }), dflops, iters);
    if (ortErr) {
      dense4096.ortMha = dense4096.ortMatmul = { error: `onnxruntime-node unavailable: ${ortErr}` };
    } else {
      const mha = await ortMha(shape, inp.qs!, inp.ks!, inp.vs!, { threads: ortThreads });
      dense4096.ortMha = await measure('ORT MultiHeadAttention', () => mha.run(), dflops, iters);
      await mha.release();
      const mm = await ortMatmulAttention(shape, inp.q.data as Float32Array, inp.k.data as Float32Array, inp.v.data as Float32Array, { threads: ortThreads });
      dense4096.ortMatmul = await measure('ORT MatMul graph', () => mm.run(), dflops, iters);
      await mm.release();
    }
  }

  // 2. causal & sliding(256) vs causal at N=16384
  log('causal & sliding(256) vs dense causal, B=1, H=8, N=16384, D=64');
  const sparse16384: GoalsReport['sparse16384'] = { causal: { error: 'not run' }, sliding: { error: 'not run' }, speedup: null, goal: 15 };
  {
    const N = 16384;
    const inp = makeInputs(1, 8, N, 64, 'float32', false);
    const tile = cpu.tile!;
    const pc = parsePattern('causal');
    const ps = parsePattern('causal & sliding(256)');
    const pairs = (p: typeof pc) => countEdges(compileMask(p, { seqQ: N, seqK: N, heads: 8, blockQ: tile.blockQ, blockK: tile.blockK }), 8).allowed;
    sparse16384.sliding = await measure('attnflow cpu causal & sliding(256)', () => attention(inp.q, inp.k, inp.v, { pattern: ps, backend: 'cpu', out: inp.out }), attentionFlops(1, 64, pairs(ps)), quick ? 3 : 7);
    sparse16384.causal = await measure('attnflow cpu causal', () => attention(inp.q, inp.k, inp.v, { pattern: pc, backend: 'cpu', out: inp.out }), attentionFlops(1, 64, pairs(pc)), quick ? 1 : 3);
    if (isTiming(sparse16384.causal) && isTiming(sparse16384.sliding)) sparse16384.speedup = sparse16384.causal.ms / sparse16384.sliding.ms;
  }

  // 3. peak memory at N=65536 in a child process
  const memSeq = 65536;
  log(`peak memory: causal & sliding(1024), B=1, H=8, N=${memSeq}, D=64 (child process)`);
  let memory65536: GoalsReport['memory65536'];
  try {
    const r = await runMemoryProbe({ seq: memSeq, heads: 8, headDim: 64, batch: 1, pattern: 'causal & sliding(1024)', dtype: 'float32', backend: 'cpu' });
    memory65536 = { ...r, goalBytes: 64 * MB };
    log(`  peak ${(r.peakRss / MIB).toFixed(1)} MiB, tensors ${(r.tensorBytes / MIB).toFixed(1)} MiB, call ${(r.callMs / 1000).toFixed(2)} s`);
  } catch (e) {
    memory65536 = { error: e instanceof Error ? e.message : String(e) };
    log(`  error: ${memory65536.error}`);
  }

  await sgemmOnce('end');
  let sgemm: GoalsReport['sgemm'];
  if (ortErr) sgemm = { error: `onnxruntime-node unavailable: ${ortErr}` };
  else {
    const best = sgemmRuns.reduce((a, b) => (b.min < a.min ? b : a));
    const f = 2 * n ** 3;
    sgemm = { n, ms: best.median, samples: best.samples, gflops: f / (best.median * 1e6), bestMs: best.min, bestGflops: f / (best.min * 1e6) };
  }

  const report: GoalsReport = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', logicalCpus: os.availableParallelism(), loadAvgStart, loadAvgEnd: os.loadavg() },
    attnflow: { version: inf.version, threads: cpu.threads, kernel: cpu.kernel, simd: cpu.simd, tile: cpu.tile },
    onnxruntime: ortErr ? null : await ortVersion(),
    ortThreads,
    sgemm,
    dense4096,
    sparse16384,
    memory65536,
  };
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(renderGoals(report));
  return 0;
}

function renderGoals(r: GoalsReport): string {
  const peak = 'error' in r.sgemm ? null : r.sgemm.bestGflops;
  const pctPeak = (t: Timing | { error: string }) => (isTiming(t) && peak ? `${((100 * t.gflops) / peak).toFixed(0)} % of sgemm peak` : '');
  const ratio = (a: Timing | { error: string }, b: Timing | { error: string }) => {
    if (!isTiming(a) || !isTiming(b)) return '';
    const x = b.ms / a.ms;
    return `attnflow/peer GFLOP/s = ${x.toFixed(2)} (attnflow ${x >= 1 ? `${x.toFixed(2)}× faster` : `${(1 / x).toFixed(2)}× slower`})`;
  };
  const rows: string[][] = [];
  if ('error' in r.sgemm) rows.push(['sgemm peak (ORT MatMul 2048², float32)', `error: ${r.sgemm.error}`, '—', '', 'yardstick']);
  else
    rows.push([
      'sgemm peak (ORT MatMul 2048², float32, 2·N³; best of start/end runs)',
      `${r.sgemm.bestMs.toFixed(1)} ms best, ${r.sgemm.ms.toFixed(1)} ms median`,
      `${r.sgemm.bestGflops.toFixed(1)} (median ${r.sgemm.gflops.toFixed(1)})`,
      '',
      'yardstick',
    ]);
  const d = r.dense4096;
  rows.push(['dense N=4096: attnflow cpu', fmtMs(d.cpu), fmtG(d.cpu), pctPeak(d.cpu), '']);
  rows.push(['dense N=4096: ORT MultiHeadAttention', fmtMs(d.ortMha), fmtG(d.ortMha), ratio(d.cpu, d.ortMha), '']);
  rows.push(['dense N=4096: ORT MatMul graph', fmtMs(d.ortMatmul), fmtG(d.ortMatmul), ratio(d.cpu, d.ortMatmul), '']);
  const s = r.sparse16384;
  rows.push(['causal N=16384: attnflow cpu', fmtMs(s.causal), fmtG(s.causal), pctPeak(s.causal), '']);
  rows.push([
    'causal & sliding(256) N=16384: attnflow cpu',
    fmtMs(s.sliding),
    fmtG(s.sliding),
    s.speedup !== null ? `${s.speedup.toFixed(1)}× faster than causal` : '',
    s.speedup !== null ? `≥ ${s.goal}×: ${s.speedup >= s.goal ? 'MET' : 'NOT MET'}` : `≥ ${s.goal}×`,
  ]);
  const m = r.memory65536;
  if ('error' in m) rows.push(['peak memory, causal & sliding(1024), N=65536', `error: ${m.error}`, '', '', 'tensors + < 64 MB']);
  else {
    rows.push([
      'peak memory, causal & sliding(1024), N=65536 (child process)',
      `call ${(m.callMs / 1000).toFixed(2)} s`,
      '',
      `peak ${(m.peakRss / MB).toFixed(1)} MB = tensors ${(m.tensorBytes / MB).toFixed(1)} MB + ${(m.peakMinusTensors / MB).toFixed(1)} MB (Node itself ${(m.baselineRss / MB).toFixed(1)} MB, the call ${(m.attentionOverhead / MB).toFixed(1)} MB)`,
      `tensors + < 64 MB: ${m.peakMinusTensors < m.goalBytes ? 'MET' : 'NOT MET'} (peak − tensors)`,
    ]);
  }
  const cell = (x: string) => x.replace(/\|/g, '\\|');
  const lines = [
    `# attnflow CPU goals (issue 4)`,
    '',
    `${r.date}; ${r.machine.cpu}, ${r.machine.logicalCpus} logical CPUs; attnflow ${r.attnflow.version} cpu backend ${r.attnflow.threads} threads, kernel ${r.attnflow.kernel ?? '?'} (CPU: ${r.attnflow.simd?.join(' ')}), tile ${r.attnflow.tile?.blockQ}×${r.attnflow.tile?.blockK}; onnxruntime-node ${r.onnxruntime ?? 'unavailable'} with ${r.ortThreads} intra-op threads; load average ${r.machine.loadAvgStart.map((x) => x.toFixed(2)).join(' / ')} at start, ${r.machine.loadAvgEnd.map((x) => x.toFixed(2)).join(' / ')} at end.`,
    '',
    'float32, B=1, H=8, D=64. FLOPs = 4·B·H·D·(allowed query-key pairs); times are medians.',
    '',
    '| measurement | time | GFLOP/s | comparison | goal |',
    '| --- | ---: | ---: | --- | --- |',
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`cpu-goals: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
