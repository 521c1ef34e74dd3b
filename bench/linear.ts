/**
 * Linear attention on the CPU: throughput of linearAttention (native chunked scan) at seq 1k…64k
 * (B=1, H=8, D=64, float32, elu1, a per-head decay as in RetNet), next to causal softmax
 * `attention` (backend 'cpu') at the same lengths up to where one call takes too long, and the
 * crossover length beyond which linearAttention is faster (found by doubling, then bisection).
 *
 * Usage: node dist-bench/bench/linear.js [--json FILE] [--max-attention-ms MS] [--quick]
 * Prints Markdown on stdout, progress on stderr.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { attentionSync, info, Tensor } from '../lib/index.js';
import { linearAttentionSync } from '../lib/linear/run.js';
import { timeTask } from '../lib/bench/runner.js';

const B = 1, H = 8, D = 64;
/** RetNet's per-head decays γ_h = 1 − 2^(−5−h). */
const DECAY = Float32Array.from({ length: H }, (_, h) => 1 - 2 ** (-5 - h));

interface Row {
  seq: number;
  linearMs: number;
  linearTokPerS: number;
  attentionMs: number | null;
  attentionTokPerS: number | null;
  speedup: number | null;
}

function inputs(seq: number): { q: Tensor; k: Tensor; v: Tensor } {
  const shape = [B, H, seq, D];
  return {
    q: Tensor.randn(shape, { seed: 1 }),
    k: Tensor.randn(shape, { seed: 2 }),
    v: Tensor.randn(shape, { seed: 3 }),
  };
}

async function time(name: string, fn: () => unknown, estimateMs: number): Promise<number> {
  // Aim for about a second per case, at least 3 samples (1 for calls over 5 s).
  const iterations = estimateMs > 5000 ? 1 : 3;
  const t = await timeTask(name, fn, Math.min(1000, Math.max(200, estimateMs * 3)), iterations);
  return t.median;
}

async function linearMs(seq: number, estimate = 10): Promise<number> {
  const { q, k, v } = inputs(seq);
  return time(`linear ${seq}`, () => linearAttentionSync(q, k, v, { backend: 'cpu', decay: DECAY }), estimate);
}

async function attentionMs(seq: number, estimate = 10): Promise<number> {
  const { q, k, v } = inputs(seq);
  return time(`attention ${seq}`, () => attentionSync(q, k, v, { backend: 'cpu', causal: true }), estimate);
}

async function crossover(maxSeq: number): Promise<{ seq: number | null; probes: { seq: number; linearMs: number; attentionMs: number }[] }> {
  const probes: { seq: number; linearMs: number; attentionMs: number }[] = [];
  const probe = async (seq: number) => {
    const l = await linearMs(seq);
    const a = await attentionMs(seq);
    probes.push({ seq, linearMs: l, attentionMs: a });
    process.stderr.write(`linear: crossover probe ${seq}: linear ${l.toFixed(3)} ms, attention ${a.toFixed(3)} ms\n`);
    return l < a;
  };
  let lo = 0;
  let hi = 0;
  for (let seq = 32; seq <= maxSeq; seq *= 2) {
    if (await probe(seq)) {
      hi = seq;
      break;
    }
    lo = seq;
  }
  if (hi === 0) return { seq: null, probes };
  if (lo === 0) return { seq: hi, probes };
  // Bisect to a multiple of 16.
  while (hi - lo > 16) {
    const mid = Math.round((lo + hi) / 32) * 16;
    if (mid <= lo || mid >= hi) break;
    if (await probe(mid)) hi = mid;
    else lo = mid;
  }
  return { seq: hi, probes };
}

function fmt(x: number | null, digits = 2): string {
  return x === null ? '—' : x.toFixed(digits);
}

function fmtRate(x: number | null): string {
  if (x === null) return '—';
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'string' }, 'max-attention-ms': { type: 'string' }, quick: { type: 'boolean' } } });
  const maxAttentionMs = Number(values['max-attention-ms'] ?? 20000);
  const seqs = values.quick ? [1024, 4096, 16384] : [1024, 2048, 4096, 8192, 16384, 32768, 65536];
  const rows: Row[] = [];
  let attEstimate = 0;
  let linEstimate = 0;
  for (const seq of seqs) {
    process.stderr.write(`linear: seq ${seq}\n`);
    const l = await linearMs(seq, linEstimate);
    linEstimate = l * 2.2;
    let a: number | null = null;
    if (attEstimate <= maxAttentionMs) {
      a = await attentionMs(seq, attEstimate);
      attEstimate = a * 4.2; // causal attention is quadratic in seq
    }
    rows.push({
      seq,
      linearMs: l,
      linearTokPerS: (B * seq) / (l / 1000),
      attentionMs: a,
      attentionTokPerS: a === null ? null : (B * seq) / (a / 1000),
      speedup: a === null ? null : a / l,
    });
  }
  const cross = await crossover(4096);
  const cpu = info().backends.cpu;
  const head =
    `CPU: ${os.cpus()[0]?.model ?? 'unknown'}, ${cpu.threads ?? '?'} threads, SIMD ${cpu.simd?.join(' ') || 'portable'}; ` +
    `B=${B}, H=${H}, D=${D}, float32; linearAttention: elu1, per-head decay 1 − 2^(−5−h); attention: causal, backend 'cpu'.`;
  const table = [
    '| seq | linearAttention ms | linear tokens/s | causal attention ms | attention tokens/s | linear speedup |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.seq} | ${fmt(r.linearMs)} | ${fmtRate(r.linearTokPerS)} | ${fmt(r.attentionMs)} | ${fmtRate(r.attentionTokPerS)} | ${r.speedup === null ? '—' : `${r.speedup.toFixed(1)}×`} |`),
  ].join('\n');
  const crossLine =
    cross.seq === null
      ? 'Crossover: linearAttention was not faster than causal attention up to seq 4096.'
      : `Crossover: linearAttention is faster than causal attention from seq ≈ ${cross.seq} on (probes: ${cross.probes
          .sort((a, b) => a.seq - b.seq)
          .map((p) => `${p.seq}: ${p.linearMs.toFixed(2)} vs ${p.attentionMs.toFixed(2)} ms`)
          .join('; ')}).`;
  process.stdout.write(`${head}\n\n${table}\n\n${crossLine}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ batch: B, heads: H, headDim: D, rows, crossover: cross }, null, 2));
}

await main();
