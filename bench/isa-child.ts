/**
 * The attnflow side of bench/isa-goals.ts: one child process per CPU kernel (started with
 * ATTNFLOW_CPU_ISA set, which the kernel registry reads once per process). It prepares a case's
 * inputs on first use, warms it up, and answers each `run` message with the wall time of one call,
 * so the parent can interleave these calls with the ONNX Runtime peers and the other kernels.
 *
 * Messages in: { type: 'run', id, case }, { type: 'exit' }.
 * Messages out: { type: 'ready', kernel, threads }, { type: 'result', id, ms } | { type: 'error', id, error }.
 */
import { attention, compileMask, info, linearAttention, parsePattern, Tensor, type DType } from '../lib/index.js';
import { countEdges } from '../lib/bench/flops.js';

/** The cases the goals need (B = 1 throughout). */
export const ISA_CASES = {
  'dense-f32': { what: 'dense f32, H=8, N=4096, D=64', kind: 'attention', dtype: 'float32', heads: 8, kvHeads: 8, seqQ: 4096, seqK: 4096, headDim: 64, pattern: 'full' },
  'dense-bf16': { what: 'dense bf16, H=8, N=4096, D=64', kind: 'attention', dtype: 'bfloat16', heads: 8, kvHeads: 8, seqQ: 4096, seqK: 4096, headDim: 64, pattern: 'full' },
  'dense-f16': { what: 'dense f16, H=8, N=4096, D=64', kind: 'attention', dtype: 'float16', heads: 8, kvHeads: 8, seqQ: 4096, seqK: 4096, headDim: 64, pattern: 'full' },
  causal: { what: 'causal f32, H=8, N=4096, D=64', kind: 'attention', dtype: 'float32', heads: 8, kvHeads: 8, seqQ: 4096, seqK: 4096, headDim: 64, pattern: 'causal' },
  sliding: { what: 'causal & sliding(256) f32, H=8, N=16384, D=64', kind: 'attention', dtype: 'float32', heads: 8, kvHeads: 8, seqQ: 16384, seqK: 16384, headDim: 64, pattern: 'causal & sliding(256)' },
  decode: { what: 'decode f32: 1 query, 8192 keys, 32/8 GQA, D=128', kind: 'attention', dtype: 'float32', heads: 32, kvHeads: 8, seqQ: 1, seqK: 8192, headDim: 128, pattern: 'causal' },
  linear: { what: 'linear scan f32: H=8, N=16384, D=64, elu1, per-head decay', kind: 'linear', dtype: 'float32', heads: 8, kvHeads: 8, seqQ: 16384, seqK: 16384, headDim: 64, pattern: '' },
} as const satisfies Record<string, { what: string; kind: 'attention' | 'linear'; dtype: DType; heads: number; kvHeads: number; seqQ: number; seqK: number; headDim: number; pattern: string }>;

export type IsaCaseId = keyof typeof ISA_CASES;

/** FLOPs of a case: 4·D·(allowed pairs, all heads) for attention (the mask compiled for the CPU tile). */
export function caseFlops(id: IsaCaseId, tile: { blockQ: number; blockK: number }): number {
  const c = ISA_CASES[id];
  if (c.kind === 'linear') return 0;
  const mask = compileMask(parsePattern(c.pattern), { seqQ: c.seqQ, seqK: c.seqK, heads: c.heads, ...tile });
  return 4 * c.headDim * countEdges(mask, c.heads).allowed;
}

/** RetNet's per-head decays γ_h = 1 − 2^(−5−h), as bench/linear.ts. */
function decays(heads: number): Float32Array {
  return Float32Array.from({ length: heads }, (_, h) => 1 - 2 ** (-5 - h));
}

type Runner = () => Promise<unknown>;

function prepare(id: IsaCaseId): Runner {
  const c = ISA_CASES[id];
  const q = Tensor.randn([1, c.heads, c.seqQ, c.headDim], { dtype: c.dtype, seed: 1 });
  const k = Tensor.randn([1, c.kvHeads, c.seqK, c.headDim], { dtype: c.dtype, seed: 2 });
  const v = Tensor.randn([1, c.kvHeads, c.seqK, c.headDim], { dtype: c.dtype, seed: 3 });
  if (c.kind === 'linear') {
    const decay = decays(c.heads);
    return () => linearAttention(q, k, v, { backend: 'cpu', decay });
  }
  const out = Tensor.zeros([1, c.heads, c.seqQ, c.headDim], { dtype: c.dtype });
  const pattern = parsePattern(c.pattern);
  return () => attention(q, k, v, { pattern, backend: 'cpu', out });
}

async function main(): Promise<void> {
  const send = (m: unknown) => process.send?.(m);
  const cpu = info().backends.cpu;
  if (!cpu.available) {
    send({ type: 'ready', kernel: null, reason: cpu.reason ?? 'unavailable' });
    return;
  }
  send({ type: 'ready', kernel: cpu.kernel ?? null, threads: cpu.threads });
  const runners = new Map<IsaCaseId, Runner>();
  process.on('message', (m: { type: string; id?: number; case?: IsaCaseId }) => {
    if (m.type === 'exit') {
      process.disconnect?.();
      return;
    }
    if (m.type !== 'run' || !m.case) return;
    void (async () => {
      try {
        let run = runners.get(m.case!);
        if (!run) {
          run = prepare(m.case!);
          await run(); // warm-up: mask cache, scratch, pages
          runners.set(m.case!, run);
        }
        const t0 = performance.now();
        await run();
        send({ type: 'result', id: m.id, ms: performance.now() - t0 });
      } catch (e) {
        send({ type: 'error', id: m.id, error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
}

if (process.send) await main();
