/**
 * How attnflow's async calls share the process with the rest of a Node application:
 *
 *  1. `fs.promises.readFile` latency of a small file, alone and while 8 long `attention()` calls
 *     are in flight (file, DNS and crypto work run on libuv's thread pool: a kernel occupying one
 *     of its 4 threads for seconds would starve them). As a control, the same while plain JS busy
 *     loops (one worker thread per CPU) saturate the CPUs: what the OS scheduler alone costs a
 *     read on a busy machine, attnflow or not;
 *  2. abort latency: the time from `controller.abort()` to the rejection of a running
 *     `attention()` / `linearAttention()` call, against the call's full duration.
 *
 * Usage: node dist/bench/responsiveness.js [--seq N] [--calls N] [--rounds N] [--json FILE]
 * Prints a Markdown table on stdout; progress on stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { attention, linearAttention, Tensor } from '../lib/index.js';

interface Latencies {
  reads: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
}

interface AbortTiming {
  callMs: number;
  abortAfterMs: number;
  /** abort() → rejection, each round */
  latencyMs: number[];
  medianLatencyMs: number;
  /** median latency / call duration */
  fraction: number;
  error?: string;
}

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

function summarize(xs: number[]): Latencies {
  return { reads: xs.length, medianMs: percentile(xs, 0.5), p95Ms: percentile(xs, 0.95), maxMs: Math.max(...xs) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timedRead(file: string): Promise<number> {
  const t0 = performance.now();
  await readFile(file);
  return performance.now() - t0;
}

/** readFile latencies, one read every `everyMs`, until `until` settles (or `count` reads without it). */
async function sampleReads(file: string, everyMs: number, until: Promise<unknown> | null, count: number): Promise<number[]> {
  const out: number[] = [];
  let settled = false;
  until?.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (until ? !settled : out.length < count) {
    out.push(await timedRead(file));
    await sleep(everyMs);
  }
  return out;
}

function inputs(seq: number, seed: number): [Tensor, Tensor, Tensor] {
  const shape = [1, 8, seq, 64];
  return [Tensor.randn(shape, { seed }), Tensor.randn(shape, { seed: seed + 1 }), Tensor.randn(shape, { seed: seed + 2 })];
}

/** Busy loops on every CPU for `ms`, in worker threads. */
function saturateCpus(ms: number): Promise<unknown> {
  const code = `const end = Date.now() + ${ms}; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1);`;
  return Promise.all(
    Array.from({ length: os.availableParallelism() }, () => new Promise((resolve, reject) => new Worker(code, { eval: true }).on('exit', resolve).on('error', reject))),
  );
}

type Call = (q: Tensor, k: Tensor, v: Tensor, signal?: AbortSignal) => Promise<unknown>;

const dense: Call = (q, k, v, signal) => attention(q, k, v, signal ? { backend: 'cpu', signal } : { backend: 'cpu' });
const linear: Call = (q, k, v, signal) => linearAttention(q, k, v, signal ? { backend: 'cpu', signal } : { backend: 'cpu' });

async function abortTiming(call: Call, seq: number, rounds: number): Promise<AbortTiming> {
  const [q, k, v] = inputs(seq, 11);
  await call(q, k, v); // warm-up (thread pool, mask cache)
  const t0 = performance.now();
  await call(q, k, v);
  const callMs = performance.now() - t0;
  const abortAfterMs = callMs / 3;
  const latencyMs: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const controller = new AbortController();
      let settledAt = 0;
      const outcome = call(q, k, v, controller.signal).then(
        () => 'resolved',
        (e: unknown) => (e as { name?: string }).name ?? String(e),
      ).finally(() => (settledAt = performance.now()));
      await sleep(abortAfterMs);
      const a = performance.now();
      controller.abort();
      const how = await outcome;
      if (how !== 'AbortError') throw new Error(`the aborted call ended with ${how}, not an AbortError`);
      latencyMs.push(settledAt - a);
    }
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return { callMs, abortAfterMs, latencyMs, medianLatencyMs: NaN, fraction: NaN, error };
  }
  const medianLatencyMs = percentile(latencyMs, 0.5);
  return { callMs, abortAfterMs, latencyMs, medianLatencyMs, fraction: medianLatencyMs / callMs };
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 1 ? 2 : 1) : '–');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seq: { type: 'string', default: '4096' },
      'linear-seq': { type: 'string', default: '65536' },
      calls: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '5' },
      json: { type: 'string' },
    },
  });
  const seq = Number(values.seq);
  const linearSeq = Number(values['linear-seq']);
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(join(os.tmpdir(), 'attnflow-bench-'));
  const file = join(dir, 'small.txt');
  writeFileSync(file, 'attnflow\n'.repeat(100));
  try {
    log('readFile alone …');
    const idle = summarize(await sampleReads(file, 5, null, 50));
    log(`  median ${ms(idle.medianMs)} ms`);

    log('readFile while busy loops saturate every CPU (control) …');
    const control = summarize(await sampleReads(file, 20, saturateCpus(5000), 0));
    log(`  median ${ms(control.medianMs)} ms, max ${ms(control.maxMs)} ms`);

    log(`readFile while ${calls} attention() calls (dense, [1, 8, ${seq}, 64] float32) are in flight …`);
    const batch = Array.from({ length: calls }, (_, i) => inputs(seq, 100 + 3 * i));
    await dense(...batch[0]); // warm-up
    const t0 = performance.now();
    const all = Promise.all(batch.map((b) => dense(...b)));
    const busy = summarize(await sampleReads(file, 20, all, 0));
    await all;
    const busyWallMs = performance.now() - t0;
    log(`  median ${ms(busy.medianMs)} ms, max ${ms(busy.maxMs)} ms over ${busy.reads} reads in ${ms(busyWallMs)} ms`);

    log('abort latency, attention() …');
    const abortDense = await abortTiming(dense, seq, rounds);
    log(`  ${abortDense.error ?? `median ${ms(abortDense.medianLatencyMs)} ms of a ${ms(abortDense.callMs)} ms call`}`);
    log('abort latency, linearAttention() …');
    const abortLinear = await abortTiming(linear, linearSeq, rounds);
    log(`  ${abortLinear.error ?? `median ${ms(abortLinear.medianLatencyMs)} ms of a ${ms(abortLinear.callMs)} ms call`}`);

    const report = {
      date: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', logicalCpus: os.cpus().length, loadAvg: os.loadavg() },
      readFile: { idle, cpusSaturated: control, busy, callsInFlight: calls, seq, busyWallMs },
      abort: { attention: { seq, ...abortDense }, linearAttention: { seq: linearSeq, ...abortLinear } },
    };
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
    const lines = [
      `Machine: ${report.machine.cpu}, ${report.machine.logicalCpus} logical CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
      '',
      '| measurement | median | p95 | max | samples |',
      '| --- | --- | --- | --- | --- |',
      `| readFile, idle | ${ms(idle.medianMs)} ms | ${ms(idle.p95Ms)} ms | ${ms(idle.maxMs)} ms | ${idle.reads} |`,
      `| readFile, every CPU busy with JS loops (control) | ${ms(control.medianMs)} ms | ${ms(control.p95Ms)} ms | ${ms(control.maxMs)} ms | ${control.reads} |`,
      `| readFile, ${calls} attention() calls in flight | ${ms(busy.medianMs)} ms | ${ms(busy.p95Ms)} ms | ${ms(busy.maxMs)} ms | ${busy.reads} |`,
      '',
      '| abort of a running call | call | aborted after | abort → rejection (median) | fraction of the call |',
      '| --- | --- | --- | --- | --- |',
      ...([
        ['attention', seq, abortDense],
        ['linearAttention', linearSeq, abortLinear],
      ] as const).map(([name, n, a]) =>
        a.error
          ? `| ${name} [1, 8, ${n}, 64] | ${ms(a.callMs)} ms | – | ${a.error} | – |`
          : `| ${name} [1, 8, ${n}, 64] | ${ms(a.callMs)} ms | ${ms(a.abortAfterMs)} ms | ${ms(a.medianLatencyMs)} ms | ${(100 * a.fraction).toFixed(1)} % |`,
      ),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
