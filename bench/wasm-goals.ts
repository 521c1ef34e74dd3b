/**
 * The wasm backend's goals (issue 17), measured in one run:
 *  - against the reference backend: ≥ 10× (dense float32, N=1024, where the reference is still
 *    quick enough to time);
 *  - against the native CPU backend on one thread: ≥ 0.25× its GFLOP/s;
 *  - with 1 and 2 threads (the threads build over one shared memory).
 * Cases: dense float32 and causal float16 attention (B=1, H=8, D=64), GQA decoding against a
 * long KV cache, and a linear-attention scan.
 *
 * The native pool's size is fixed when the addon loads (ATTNFLOW_CPU_THREADS), so the run is two
 * child processes, one per thread count; each times its configurations in interleaved rounds
 * (one call of each configuration per round) and reports medians, which keeps the ratios fair on
 * a shared machine.
 *
 * Usage: node dist-bench/bench/wasm-goals.js [--quick] [--json FILE]
 * Prints a Markdown table on stdout; progress on stderr.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { attention, attentionSync, compileMask, info, linearAttention, Tensor, type DType } from '../lib/index.js';
import { setWasmThreads } from '../lib/wasm/index.js';
import { attentionFlops, countEdges } from '../lib/bench/flops.js';

interface Case {
  name: string;
  /** FLOPs of one call (allowed pairs; 0: report time only) */
  flops: number;
  /** the configurations this case runs (the reference only where it is quick enough) */
  reference: boolean;
  run: (backend: 'cpu' | 'wasm' | 'reference', sync: boolean) => Promise<unknown>;
}

type Config = 'reference' | 'native' | 'wasm' | 'wasm-sync';

interface ChildResult {
  threads: number;
  /** median ms per case and configuration */
  ms: Record<string, Partial<Record<Config, number>>>;
  flops: Record<string, number>;
  wasmModuleBytes: number;
  loadAvg: number[];
}

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function qkv(hq: number, hkv: number, sq: number, sk: number, d: number, dtype: DType) {
  return {
    q: Tensor.randn([1, hq, sq, d], { dtype, seed: 1 }),
    k: Tensor.randn([1, hkv, sk, d], { dtype, seed: 2 }),
    v: Tensor.randn([1, hkv, sk, d], { dtype, seed: 3 }),
  };
}

function attentionCase(name: string, hq: number, hkv: number, sq: number, sk: number, d: number, dtype: DType, pattern: string, reference: boolean): Case {
  const { q, k, v } = qkv(hq, hkv, sq, sk, d, dtype);
  const pairs = countEdges(compileMask(pattern, { seqQ: sq, seqK: sk, heads: hq, blockQ: 64, blockK: 64 }), hq).allowed;
  return {
    name,
    flops: attentionFlops(1, d, pairs),
    reference,
    run: (backend, sync) => (sync ? Promise.resolve(attentionSync(q, k, v, { pattern, backend })) : attention(q, k, v, { pattern, backend })),
  };
}

function cases(quick: boolean): Case[] {
  const n = quick ? 1024 : 2048;
  const r = quick ? 512 : 1024; // the reference takes seconds per call beyond this
  const { q, k, v } = qkv(8, 8, 4096, 4096, 64, 'float32');
  return [
    attentionCase(`dense float32, H=8, N=${r}, D=64`, 8, 8, r, r, 64, 'float32', 'full', true),
    attentionCase(`dense float32, H=8, N=${n}, D=64`, 8, 8, n, n, 64, 'float32', 'full', false),
    attentionCase(`causal float16, H=8, N=${n}, D=64`, 8, 8, n, n, 64, 'float16', 'causal', false),
    attentionCase('decode float32, Hq=32, Hkv=8, seqK=16384, D=128', 32, 8, 1, 16384, 128, 'float32', 'causal', false),
    {
      name: 'linear attention (elu1) float32, H=8, N=4096, D=64',
      flops: 0,
      reference: false,
      run: (backend) => linearAttention(q, k, v, { backend: backend === 'reference' ? 'reference' : backend }),
    },
  ];
}

async function child(threads: number, quick: boolean): Promise<ChildResult> {
  await setWasmThreads(threads);
  const all = cases(quick);
  const configs: Config[] = threads === 1 ? ['native', 'wasm', 'wasm-sync', 'reference'] : ['native', 'wasm'];
  const samples: Record<string, Partial<Record<Config, number[]>>> = {};
  const rounds = quick ? 3 : 5;
  const once = async (c: Case, cfg: Config) => {
    const t = performance.now();
    await c.run(cfg === 'native' ? 'cpu' : cfg === 'reference' ? 'reference' : 'wasm', cfg === 'wasm-sync' || cfg === 'reference');
    return performance.now() - t;
  };
  for (const c of all) for (const cfg of configs) if (cfg !== 'reference' || c.reference) await once(c, cfg); // warm-up
  for (let r = 0; r < rounds; r++) {
    log(`  ${threads} thread${threads > 1 ? 's' : ''}: round ${r + 1}/${rounds}`);
    for (const c of all) {
      for (const cfg of configs) {
        if (cfg === 'reference' && !c.reference) continue;
        ((samples[c.name] ??= {})[cfg] ??= []).push(await once(c, cfg));
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const ms: ChildResult['ms'] = {};
  for (const [name, byCfg] of Object.entries(samples)) {
    ms[name] = Object.fromEntries(Object.entries(byCfg).map(([cfg, xs]) => [cfg, median(xs!)]));
  }
  return { threads, ms, flops: Object.fromEntries(all.map((c) => [c.name, c.flops])), wasmModuleBytes: info().backends.wasm.moduleBytes ?? 0, loadAvg: os.loadavg() };
}

function render(one: ChildResult, two: ChildResult, machine: string): string {
  const rate = (name: string, ms: number | undefined, flops: number) =>
    ms === undefined ? '—' : flops > 0 ? `${(flops / (ms * 1e6)).toFixed(1)} GFLOP/s (${ms.toFixed(1)} ms)` : `${ms.toFixed(1)} ms`;
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : `${(b / a).toFixed(2)}×`);
  const lines = [
    `wasm backend goals on ${machine} (module ${(one.wasmModuleBytes / 1024).toFixed(0)} KiB; load average ${one.loadAvg[0].toFixed(1)} / ${two.loadAvg[0].toFixed(1)})`,
    '',
    '| case | reference | wasm 1 thread (sync) | wasm 1 thread | native cpu 1 thread | wasm / native (1 thread) | wasm 2 threads | native cpu 2 threads | wasm / native (2 threads) | wasm / reference |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const name of Object.keys(one.ms)) {
    const a = one.ms[name];
    const b = two.ms[name] ?? {};
    const f = one.flops[name];
    lines.push(
      `| ${name} | ${rate(name, a.reference, f)} | ${rate(name, a['wasm-sync'], f)} | ${rate(name, a.wasm, f)} | ${rate(name, a.native, f)} | ${ratio(a.wasm, a.native)} | ` +
        `${rate(name, b.wasm, f)} | ${rate(name, b.native, f)} | ${ratio(b.wasm, b.native)} | ${ratio(a['wasm-sync'], a.reference)} |`,
    );
  }
  lines.push('', 'Goals: wasm ≥ 10× the reference; wasm ≥ 0.25× native on one thread. Ratios compare medians of interleaved rounds.', '');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, json: { type: 'string' }, child: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: node dist-bench/bench/wasm-goals.js [--quick] [--json FILE]\n');
    return 0;
  }
  const quick = values.quick === true;
  if (values.child) {
    process.stdout.write(JSON.stringify(await child(Number(values.child), quick)));
    return 0;
  }
  const i = info();
  if (!i.backends.wasm.available || !i.backends.cpu.available) {
    log(`wasm-goals: needs the wasm and the native CPU backends (wasm: ${i.backends.wasm.reason ?? 'ok'}; cpu: ${i.backends.cpu.reason ?? 'ok'})`);
    return 1;
  }
  const results: ChildResult[] = [];
  for (const threads of [1, 2]) {
    log(`wasm-goals: ${threads} thread${threads > 1 ? 's' : ''} (child process, ATTNFLOW_CPU_THREADS=${threads})`);
    const args = [fileURLToPath(import.meta.url), '--child', String(threads), ...(quick ? ['--quick'] : [])];
    const r = spawnSync(process.execPath, args, { env: { ...process.env, ATTNFLOW_CPU_THREADS: String(threads) }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      log(`wasm-goals: the ${threads}-thread run failed (exit ${r.status})`);
      return 1;
    }
    results.push(JSON.parse(r.stdout) as ChildResult);
  }
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} logical CPUs, Node ${process.versions.node}`;
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2) + '\n');
  process.stdout.write(render(results[0], results[1], machine));
  return 0;
}

process.exitCode = await main();
