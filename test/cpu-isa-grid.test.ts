/**
 * The oracle grid every CPU kernel must pass: attention over patterns, dtypes, layouts, GQA
 * ratios, head dims that are not a multiple of any vector width, options, decoding (packed heads,
 * split rows), linear attention over every feature map and decay, and the cases where the kernels'
 * own paths part ways (partial tiles computed by register block, with the mask applied in
 * registers or by the softmax; bfloat16 through the avx512bf16 kernel's dot products, or not when
 * RoPE or odd layouts send it to the f32 body). It runs on the kernel this
 * process uses; test/cpu-isa.test.ts runs it again in child processes with ATTNFLOW_CPU_ISA set
 * to each other kernel this CPU supports.
 */
import { describe, expect, it } from 'vitest';
import { attentionSync, info, Tensor, type AttentionOptions, type DType } from '../lib/index.js';
import { linearAttentionSync, type LinearAttentionOptions } from '../lib/linear/run.js';
import { linearOracle } from '../lib/linear/reference.js';
import { planLinearAttention } from '../lib/linear/plan.js';
import { oracle, relError, toBhsd, TOLERANCE } from './helpers/oracle.js';

type Layout = 'bhsd' | 'bshd';
let seed = 91000;

function tensor(b: number, h: number, s: number, d: number, dtype: DType, layout: Layout, scale = 1): Tensor {
  const shape = layout === 'bhsd' ? [b, h, s, d] : [b, s, h, d];
  const t = Tensor.randn(shape, { seed: seed++ }).toFloat32();
  for (let i = 0; i < t.length; i++) t[i] *= scale;
  return Tensor.fromFloat32(t, shape, { dtype, layout });
}

const wanted = process.env.ATTNFLOW_CPU_ISA;

describe(`CPU kernel ${wanted ?? '(default)'}: the oracle grid`, () => {
  it('runs on the kernel asked for', () => {
    const cpu = info().backends.cpu;
    expect(cpu.available, cpu.reason).toBe(true);
    if (wanted) expect(cpu.kernel).toBe(wanted);
    expect(cpu.lanes).toBeGreaterThanOrEqual(4);
  });

  it('attention matches the oracle', () => {
    const cases: { hq: number; hkv: number; sq: number; sk: number; d: number; pattern: string; extra?: AttentionOptions }[] = [
      { hq: 2, hkv: 2, sq: 130, sk: 130, d: 64, pattern: 'causal' },
      { hq: 4, hkv: 2, sq: 77, sk: 200, d: 33, pattern: 'causal & sliding(40) | sink(3)', extra: { alibi: true } },
      { hq: 3, hkv: 1, sq: 70, sk: 150, d: 20, pattern: 'perHead(causal, window(9, 4), full)', extra: { softcap: 8 } },
      { hq: 2, hkv: 1, sq: 65, sk: 129, d: 80, pattern: 'random(9, 4)', extra: { rope: { style: 'interleaved' } } },
      { hq: 8, hkv: 2, sq: 1, sk: 3000, d: 64, pattern: 'causal & sliding(700)' },
      { hq: 8, hkv: 2, sq: 5, sk: 2000, d: 128, pattern: 'dsa(64, 16, 0)', extra: { rope: {}, alibi: true } },
      { hq: 1, hkv: 1, sq: 70, sk: 30, d: 16, pattern: 'causal' },
    ];
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      for (const [i, c] of cases.entries()) {
        const layout: Layout = i % 2 ? 'bshd' : 'bhsd';
        const q = tensor(1, c.hq, c.sq, c.d, dtype, layout);
        const k = tensor(1, c.hkv, c.sk, c.d, dtype, layout);
        const v = tensor(1, c.hkv, c.sk, c.d, dtype, layout);
        const options: AttentionOptions = { pattern: c.pattern, ...c.extra };
        const ref = oracle(q, k, v, options);
        const res = attentionSync(q, k, v, { ...options, backend: 'cpu', returnLse: true });
        const what = `${dtype} ${JSON.stringify(c)}`;
        expect(relError(toBhsd(res.out), ref.out), what).toBeLessThanOrEqual(TOLERANCE[dtype]);
        expect(relError(res.lse.toFloat32(), ref.lse), what).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('linear attention matches the oracle', () => {
    const gates = (n: number, df: number | null) => {
      const shape = df === null ? [1, 2, n] : [1, 2, n, df];
      const t = Tensor.randn(shape, { seed: seed++ }).toFloat32();
      for (let i = 0; i < t.length; i++) t[i] = 0.75 + 0.25 / (1 + Math.abs(t[i]));
      return Tensor.fromFloat32(t, shape);
    };
    const cases: { dk: number; dv: number; n: number; o: LinearAttentionOptions }[] = [
      { dk: 16, dv: 12, n: 100, o: {} },
      { dk: 13, dv: 7, n: 70, o: { featureMap: 'identity', normalize: false, decay: 0.9 } },
      { dk: 20, dv: 33, n: 75, o: { featureMap: 'relu', decay: gates(75, null) } },
      { dk: 8, dv: 16, n: 66, o: { featureMap: { favor: 24, seed: 3 }, decay: gates(66, 24) } },
      { dk: 32, dv: 32, n: 130, o: { decay: Float32Array.of(0.95, 0.8) } },
    ];
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      for (const c of cases) {
        const q = tensor(1, 2, c.n, c.dk, dtype, 'bhsd', 0.5);
        const k = tensor(1, 1, c.n, c.dk, dtype, 'bhsd', 0.5);
        const v = tensor(1, 1, c.n, c.dv, dtype, 'bhsd');
        const ref = linearOracle(planLinearAttention(q, k, v, c.o));
        const got = linearAttentionSync(q, k, v, { ...c.o, backend: 'cpu', returnState: true });
        const what = `${dtype} ${JSON.stringify({ ...c, o: { ...c.o, decay: undefined } })}`;
        expect(relError(got.out.toFloat32(), ref.out), what).toBeLessThanOrEqual(TOLERANCE[dtype]);
        expect(relError(got.state.S.toFloat32(), ref.S), what).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('partial tiles and the bfloat16 paths match the oracle', () => {
    // partial tiles: without softcap/ALiBi the mask is applied to the blocks as they are stored,
    // with them by the softmax; only blocks holding an allowed pair are computed
    for (const pattern of ['causal', 'causal & sliding(50)', 'sliding(20)', 'random(5, 3)', 'window(30, 10) | sink(2)']) {
      for (const extra of [{}, { softcap: 8 }, { alibi: true }] as AttentionOptions[]) {
        const q = tensor(1, 4, 150, 64, 'float32', 'bshd');
        const k = tensor(1, 2, 190, 64, 'float32', 'bshd');
        const v = tensor(1, 2, 190, 64, 'float32', 'bshd');
        const options: AttentionOptions = { pattern, ...extra };
        const ref = oracle(q, k, v, options);
        const res = attentionSync(q, k, v, { ...options, backend: 'cpu' });
        expect(relError(toBhsd(res), ref.out), `${pattern} ${JSON.stringify(extra)}`).toBeLessThanOrEqual(TOLERANCE.float32);
      }
    }
    // bfloat16: dense, masked, odd key counts, decoding (dot-product path where the kernel has one);
    // RoPE and an odd headDim (the f32 body)
    const bf16: { hq: number; hkv: number; sq: number; sk: number; d: number; pattern: string; extra?: AttentionOptions }[] = [
      { hq: 2, hkv: 2, sq: 130, sk: 150, d: 64, pattern: 'full' },
      { hq: 4, hkv: 2, sq: 200, sk: 201, d: 96, pattern: 'causal & sliding(40)' },
      { hq: 8, hkv: 2, sq: 1, sk: 2500, d: 128, pattern: 'causal' },
      { hq: 2, hkv: 2, sq: 100, sk: 100, d: 64, pattern: 'causal', extra: { rope: {} } },
      { hq: 2, hkv: 2, sq: 100, sk: 100, d: 63, pattern: 'causal' },
    ];
    for (const c of bf16) {
      const q = tensor(1, c.hq, c.sq, c.d, 'bfloat16', 'bhsd');
      const k = tensor(1, c.hkv, c.sk, c.d, 'bfloat16', 'bhsd');
      const v = tensor(1, c.hkv, c.sk, c.d, 'bfloat16', 'bhsd');
      const options: AttentionOptions = { pattern: c.pattern, ...c.extra };
      const ref = oracle(q, k, v, options);
      const res = attentionSync(q, k, v, { ...options, backend: 'cpu', returnLse: true });
      expect(relError(toBhsd(res.out), ref.out), JSON.stringify(c)).toBeLessThanOrEqual(TOLERANCE.bfloat16);
      expect(relError(res.lse.toFloat32(), ref.lse), JSON.stringify(c)).toBeLessThanOrEqual(1e-5);
    }
  });
});
