/**
 * The CPU kernel goals by instruction set (issue 15), every ratio measured in one run with the
 * calls interleaved round by round: the ONNX Runtime peers (sgemm 2048³, MultiHeadAttention,
 * GroupQueryAttention decode) in this process, attnflow once per kernel in child processes started
 * with ATTNFLOW_CPU_ISA=<kernel> (bench/isa-child.ts), so a burst of load from elsewhere hits every
 * contender of a round alike. Medians over rounds; the load average is printed per round.
 *
 * Usage: node dist-bench/bench/isa-goals.js [--isa avx512,avx2] [--rounds N] [--quick] [--json FILE]
 *   --isa     the kernels to compare (default: every kernel of the build but portable; one the CPU
 *             lacks is reported and skipped). avx512bf16 differs from avx512 only for bfloat16
 *             inputs, so it runs the bf16 case alone.
 *   --rounds  interleaved rounds (default 7, --quick 3)
 * Prints Markdown on stdout, progress on stderr.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { info, Tensor } from '../lib/index.js';
import { caseFlops, ISA_CASES, type IsaCaseId } from './isa-child.js';
import { loadOrt, ortGqaDecode, ortMha, ortSgemm, ortVersion, type OrtRunner } from './ort.js';

const SGEMM_N = 2048;
const CASES = Object.keys(ISA_CASES) as IsaCaseId[];
const SETTLE_MS = 20; // between calls, so one contender's idle-spinning threads never overlap the next call

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One child process holding attnflow with one forced kernel. */
class KernelChild {
  private next = 0;
  private pending = new Map<number, { resolve: (ms: number) => void; reject: (e: Error) => void }>();
  private constructor(
    readonly isa: string,
    private readonly child: ChildProcess,
    readonly kernel: string | null,
  ) {
    child.on('message', (m: { type: string; id: number; ms?: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.ms!);
      else p.reject(new Error(m.error ?? 'child error'));
    });
  }

  static start(isa: string): Promise<KernelChild | { isa: string; error: string }> {
    const path = fileURLToPath(new URL('./isa-child.js', import.meta.url));
    const child = fork(path, [], { env: { ...process.env, ATTNFLOW_CPU_ISA: isa }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve) => {
      child.once('message', (m: { type: string; kernel: string | null; reason?: string }) => {
        if (m.type !== 'ready' || m.kernel === null) {
          child.kill();
          resolve({ isa, error: m.reason ?? 'the cpu backend reports no kernel name' });
        } else if (m.kernel !== isa) {
          child.kill();
          resolve({ isa, error: `ATTNFLOW_CPU_ISA=${isa} ran the '${m.kernel}' kernel (this CPU lacks ${isa})` });
        } else resolve(new KernelChild(isa, child, m.kernel));
      });
      child.once('error', (e) => resolve({ isa, error: e.message }));
    });
  }

  run(id: IsaCaseId): Promise<number> {
    const n = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(n, { resolve, reject });
      this.child.send({ type: 'run', id: n, case: id });
    });
  }

  stop(): void {
    this.child.send({ type: 'exit' });
  }
}

interface Series {
  samples: number[];
  error?: string;
}

async function sample(series: Series, fn: () => Promise<unknown>): Promise<void> {
  if (series.error) return;
  try {
    const t0 = performance.now();
    await fn();
    series.samples.push(performance.now() - t0);
  } catch (e) {
    series.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  await sleep(SETTLE_MS);
}

async function sampleChild(series: Series, child: KernelChild, id: IsaCaseId): Promise<void> {
  if (series.error) return;
  try {
    series.samples.push(await child.run(id));
  } catch (e) {
    series.error = e instanceof Error ? e.message : String(e);
  }
  await sleep(SETTLE_MS);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { isa: { type: 'string' }, rounds: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: node dist-bench/bench/isa-goals.js [--isa avx512,avx2] [--rounds N] [--quick] [--json FILE]\n');
    return 0;
  }
  const cpu = info().backends.cpu;
  if (!cpu.available) {
    log(`isa-goals: the native CPU backend is unavailable: ${cpu.reason}`);
    return 1;
  }
  const tile = cpu.tile!;
  const threads = cpu.threads ?? os.availableParallelism();
  const rounds = Number(values.rounds ?? (values.quick ? 3 : 7));
  const buildKernels = (cpu.kernels ?? []).map((k) => k.name).filter((n) => n !== 'portable');
  const isas = (values.isa ?? buildKernels.join(',')).split(',').filter(Boolean);

  const children: KernelChild[] = [];
  const skipped: { isa: string; error: string }[] = [];
  for (const isa of isas) {
    const c = await KernelChild.start(isa);
    if (c instanceof KernelChild) children.push(c);
    else {
      skipped.push(c);
      log(`isa-goals: ${isa} skipped: ${c.error}`);
    }
  }

  // peers, in this process
  const ort = await loadOrt();
  const ortErr = 'error' in ort ? ort.error : null;
  const peers: { name: string; runner: OrtRunner | null; series: Series }[] = [];
  const addPeer = async (name: string, make: () => Promise<OrtRunner>) => {
    const series: Series = { samples: [] };
    let runner: OrtRunner | null = null;
    if (ortErr) series.error = `onnxruntime-node unavailable: ${ortErr}`;
    else
      try {
        runner = await make();
        await runner.run();
      } catch (e) {
        series.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
      }
    peers.push({ name, runner, series });
  };
  log('isa-goals: preparing the ONNX Runtime peers');
  await addPeer('sgemm', () => ortSgemm(SGEMM_N, { threads }));
  {
    const c = ISA_CASES['dense-f32'];
    const bshd = [1, c.seqQ, c.heads, c.headDim];
    const t = (seed: number) => Tensor.randn(bshd, { seed, layout: 'bshd' }).data as Float32Array;
    await addPeer('mha', () => ortMha({ batch: 1, heads: c.heads, seq: c.seqQ, headDim: c.headDim }, t(4), t(5), t(6), { threads }));
  }
  {
    const c = ISA_CASES.decode;
    const q = Tensor.randn([1, c.heads, 1, c.headDim], { seed: 7 }).data as Float32Array;
    const k = Tensor.randn([1, c.kvHeads, c.seqK, c.headDim], { seed: 8 }).data as Float32Array;
    const v = Tensor.randn([1, c.kvHeads, c.seqK, c.headDim], { seed: 9 }).data as Float32Array;
    await addPeer('gqa', () => ortGqaDecode({ batch: 1, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, keys: c.seqK }, q, k, v, { threads }));
  }

  const series = new Map<string, Series>(); // `${isa}/${case}`
  const casesOf = (isa: string): IsaCaseId[] => (isa === 'avx512bf16' ? ['dense-bf16'] : CASES);
  for (const ch of children) for (const id of casesOf(ch.isa)) series.set(`${ch.isa}/${id}`, { samples: [] });
  const loads: number[][] = [os.loadavg()];
  for (let r = 0; r < rounds; r++) {
    log(`isa-goals: round ${r + 1}/${rounds} (load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
    for (const p of peers) if (p.runner) await sample(p.series, () => p.runner!.run());
    for (const id of CASES) {
      // alternate which kernel goes first
      const order = r % 2 ? [...children].reverse() : children;
      for (const ch of order) if (series.has(`${ch.isa}/${id}`)) await sampleChild(series.get(`${ch.isa}/${id}`)!, ch, id);
    }
    loads.push(os.loadavg());
  }
  for (const ch of children) ch.stop();
  for (const p of peers) await p.runner?.release();

  const flops = Object.fromEntries(CASES.map((id) => [id, caseFlops(id, tile)])) as Record<IsaCaseId, number>;
  const report: Report = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', logicalCpus: os.availableParallelism(), loads },
    attnflow: { version: info().version, threads, tile },
    onnxruntime: ortErr ? null : await ortVersion(),
    rounds,
    skipped,
    peers: Object.fromEntries(peers.map((p) => [p.name, { medianMs: median(p.series.samples), samples: p.series.samples, error: p.series.error }])),
    kernels: Object.fromEntries(
      children.map((ch) => [
        ch.isa,
        Object.fromEntries(casesOf(ch.isa).map((id) => {
          const s = series.get(`${ch.isa}/${id}`)!;
          return [id, { medianMs: median(s.samples), samples: s.samples, error: s.error, flops: flops[id] }];
        })) as unknown as Report['kernels'][string],
      ]),
    ),
  };
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(render(report));
  return 0;
}

type Report = {
  date: string;
  machine: { cpu: string; logicalCpus: number; loads: number[][] };
  attnflow: { version: string; threads: number; tile: { blockQ: number; blockK: number } };
  onnxruntime: string | null;
  rounds: number;
  skipped: { isa: string; error: string }[];
  peers: Record<string, { medianMs: number; samples: number[]; error?: string }>;
  kernels: Record<string, Record<IsaCaseId, { medianMs: number; samples: number[]; error?: string; flops: number }>>;
};

function render(r: Report): string {
  const gf = (flops: number, ms: number) => flops / (ms * 1e6);
  const sgemm = r.peers.sgemm;
  const sgemmGf = gf(2 * SGEMM_N ** 3, sgemm.medianMs);
  const mha = r.peers.mha;
  const mhaGf = gf(ISA_CASES['dense-f32'].heads * 4 * ISA_CASES['dense-f32'].headDim * ISA_CASES['dense-f32'].seqQ ** 2, mha.medianMs);
  const gqa = r.peers.gqa;
  const fmtMs = (ms: number) => (Number.isNaN(ms) ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 10 ? 1 : 2)} ms`);
  const verdict = (x: number, goal: number) => (Number.isNaN(x) ? '—' : `${x.toFixed(2)}× (goal ≥ ${goal}×: ${x >= goal ? 'MET' : 'NOT MET'})`);
  const lines: string[] = [];
  lines.push(`# attnflow CPU kernels by instruction set (issue 15)`, '');
  const loads = r.machine.loads.map((l) => l[0].toFixed(2));
  lines.push(
    `${r.date}; ${r.machine.cpu}, ${r.machine.logicalCpus} logical CPUs; attnflow ${r.attnflow.version}, ${r.attnflow.threads} threads; onnxruntime-node ${r.onnxruntime ?? 'unavailable'} (same thread count); ${r.rounds} interleaved rounds, medians; 1-minute load average per round: ${loads.join(' ')}.`,
    '',
  );
  for (const s of r.skipped) lines.push(`Kernel ${s.isa} skipped: ${s.error}.`, '');
  lines.push('| peer | median | GFLOP/s |', '| --- | ---: | ---: |');
  lines.push(`| ORT MatMul ${SGEMM_N}³ float32 (sgemm rate) | ${sgemm.error ? `error: ${sgemm.error}` : fmtMs(sgemm.medianMs)} | ${sgemmGf.toFixed(1)} |`);
  lines.push(`| ORT MultiHeadAttention, ${ISA_CASES['dense-f32'].what} | ${mha.error ? `error: ${mha.error}` : fmtMs(mha.medianMs)} | ${mhaGf.toFixed(1)} |`);
  lines.push(`| ORT GroupQueryAttention, ${ISA_CASES.decode.what} | ${gqa.error ? `error: ${gqa.error}` : fmtMs(gqa.medianMs)} | ${gf(4 * 32 * 128 * 8192, gqa.medianMs).toFixed(1)} |`, '');

  const isas = Object.keys(r.kernels);
  lines.push(`| case | ${isas.map((i) => `${i} median | ${i} GFLOP/s`).join(' | ')} |`, `| --- | ${isas.map(() => '---: | ---:').join(' | ')} |`);
  for (const id of CASES) {
    const cells = isas.map((i) => {
      const k = r.kernels[i][id];
      if (!k) return '— | —';
      if (k.error) return `error: ${k.error} | —`;
      return `${fmtMs(k.medianMs)} | ${k.flops ? gf(k.flops, k.medianMs).toFixed(1) : '—'}`;
    });
    lines.push(`| ${ISA_CASES[id].what} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'FLOPs = 4·D·(allowed query-key pairs, all heads), pairs counted on the mask compiled for the CPU tile.', '');

  // A goal's ratio is the median over rounds of the ratio of that round's two calls (`paired`), so a
  // burst of load that slows one round slows both sides of its ratio; the quartiles show the spread.
  lines.push('| goal | kernel | ratio, median of rounds [quartiles] | ratio of the medians |', '| --- | --- | --- | ---: |');
  const samples = (i: string, id: IsaCaseId) => {
    const k = r.kernels[i]?.[id];
    return !k || k.error ? [] : k.samples;
  };
  const flopsOf = (id: IsaCaseId) => r.kernels.avx512?.[id]?.flops ?? r.kernels[isas[0]]?.[id]?.flops ?? NaN;
  const goal = (what: string, i: string, num: number[], den: number[], scale: number, target: number) => {
    const n = Math.min(num.length, den.length);
    const per = Array.from({ length: n }, (_, x) => (scale * den[x]) / num[x]).sort((a, b) => a - b);
    const q = (f: number) => (n ? per[Math.min(n - 1, Math.floor(f * n))] : NaN);
    const ofMedians = (scale * median(den)) / median(num);
    lines.push(`| ${what} | ${i} | ${verdict(q(0.5), target)} [${q(0.25).toFixed(2)}–${q(0.75).toFixed(2)}] | ${ofMedians.toFixed(2)}× |`);
  };
  // Each ratio is (time of the reference) / (time of the case), scaled by their FLOPs where rates are compared.
  const sgemmFlops = 2 * SGEMM_N ** 3, mhaFlops = flopsOf('dense-f32');
  if (r.kernels.avx512bf16 && r.kernels.avx512) {
    goal('bf16 vs f32 throughput (bf16 on avx512bf16, f32 on avx512)', 'avx512bf16', samples('avx512bf16', 'dense-bf16'), samples('avx512', 'dense-f32'), 1, 1.5);
  }
  for (const i of isas) {
    if (i === 'avx512bf16') continue;
    goal('dense f32 N=4096 vs ORT MultiHeadAttention (stretch 1.2×)', i, samples(i, 'dense-f32'), mha.samples, 1, 1.0);
    goal('dense f32 N=4096 vs the sgemm rate', i, samples(i, 'dense-f32'), sgemm.samples, mhaFlops / sgemmFlops, 0.85);
    goal('bf16 vs f32 throughput', i, samples(i, 'dense-bf16'), samples(i, 'dense-f32'), 1, 1.5);
    goal('f16 vs f32 throughput', i, samples(i, 'dense-f16'), samples(i, 'dense-f32'), 1, 1.0);
    goal('causal: GFLOP/s per allowed pair vs dense', i, samples(i, 'causal'), samples(i, 'dense-f32'), flopsOf('causal') / flopsOf('dense-f32'), 0.9);
    goal('causal & sliding(256): GFLOP/s per allowed pair vs dense', i, samples(i, 'sliding'), samples(i, 'dense-f32'), flopsOf('sliding') / flopsOf('dense-f32'), 0.9);
    goal('decode vs ORT GroupQueryAttention (time ratio)', i, samples(i, 'decode'), gqa.samples, 1, 1.0);
  }
  const ms = (i: string, id: IsaCaseId) => {
    const k = r.kernels[i]?.[id];
    return !k || k.error ? NaN : k.medianMs;
  };
  if (r.kernels.avx512 && r.kernels.avx2) {
    goal('linear scan vs its AVX2 speed', 'avx512', samples('avx512', 'linear'), samples('avx2', 'linear'), 1, 1.5);
    for (const id of CASES) {
      if (id === 'linear') continue;
      lines.push(`| ${ISA_CASES[id].what}: speed vs avx2 | avx512 | ${(ms('avx2', id) / ms('avx512', id)).toFixed(2)}× |`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`isa-goals: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
