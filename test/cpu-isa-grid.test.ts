/**
 * The oracle grid every CPU kernel must pass: attention over patterns, dtypes, layouts, GQA
 * ratios, head dims that are not a multiple of any vector width, options, decoding (packed heads,
 * split rows), and linear attention over every feature map and decay. It runs on the kernel this
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
});
