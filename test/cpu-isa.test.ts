/**
 * The CPU kernel registry seen from JavaScript, and the cases where kernels of different vector
 * widths part ways. Runs in the default project and once per other supported kernel with
 * ATTNFLOW_CPU_ISA set (vitest.config.ts), where it also checks that the named kernel is the one
 * that ran: headDims that are not whole vectors of 8 or 16 floats, partial tiles (only their
 * blocks with allowed pairs are computed), bfloat16 inputs (the avx512bf16 kernel's dot-product
 * path), decoding with split key ranges, linear attention with padded feature and value widths.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { attentionSync, info, Tensor, type AttentionOptions, type DType } from '../lib/index.js';
import { linearAttentionSync } from '../lib/linear/index.js';
import { linearOracle } from '../lib/linear/reference.js';
import { planLinearAttention } from '../lib/linear/validate.js';
import { oracle, relError, toBhsd, TOLERANCE } from './helpers/oracle.js';

const forced = process.env.ATTNFLOW_CPU_ISA;
const cpu = info().backends.cpu;
let seed = 91000;

function qkv(hq: number, hkv: number, sq: number, sk: number, d: number, dtype: DType, layout: 'bhsd' | 'bshd' = 'bhsd') {
  const shape = (h: number, s: number) => (layout === 'bhsd' ? [1, h, s, d] : [1, s, h, d]);
  return {
    q: Tensor.randn(shape(hq, sq), { dtype, layout, seed: seed++ }),
    k: Tensor.randn(shape(hkv, sk), { dtype, layout, seed: seed++ }),
    v: Tensor.randn(shape(hkv, sk), { dtype, layout, seed: seed++ }),
  };
}

function expectOracle(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): void {
  const ref = oracle(q, k, v, options);
  const res = attentionSync(q, k, v, { ...options, backend: 'cpu', returnLse: true });
  const err = relError(toBhsd(res.out), ref.out);
  expect(err, `${cpu.kernel}: out error ${err} (${q.dtype}, ${JSON.stringify(options)})`).toBeLessThanOrEqual(TOLERANCE[q.dtype]);
  expect(relError(res.lse.toFloat32(), ref.lse)).toBeLessThanOrEqual(1e-5);
}

describe(`CPU kernel registry${forced ? ` (ATTNFLOW_CPU_ISA=${forced})` : ''}`, () => {
  it('names the kernel that runs: the forced one, else the first supported and preferred one', () => {
    expect(cpu.available).toBe(true);
    const kernels = cpu.kernels ?? [];
    expect(kernels.at(-1)?.name).toBe('portable');
    expect(kernels.at(-1)?.supported).toBe(true);
    if (forced) expect(cpu.kernel).toBe(forced);
    else expect(cpu.kernel).toBe(kernels.find((k) => k.supported && k.preferred)?.name);
  });

  it('an ATTNFLOW_CPU_ISA naming no kernel makes the CPU backend unavailable, saying which kernels there are', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const script = "const a = require('node-gyp-build')(process.cwd()); process.stdout.write(JSON.stringify(a.info().cpu));";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, ATTNFLOW_CPU_ISA: 'avx9000' } });
    expect(r.status, r.stderr).toBe(0);
    const child = JSON.parse(r.stdout) as { kernel?: string; kernelError?: string };
    expect(child.kernel).toBeUndefined();
    expect(child.kernelError).toMatch(/ATTNFLOW_CPU_ISA=avx9000 names no CPU kernel.*portable/);
  });
});

describe(`CPU kernel ${cpu.kernel ?? '?'} against the float64 oracle`, () => {
  it('headDims that are not whole vectors (padding to 8 and 16 lanes), square and not', () => {
    for (const d of [8, 24, 40, 72, 100]) {
      const { q, k, v } = qkv(2, 2, 70, 133, d, 'float32');
      expectOracle(q, k, v, { causal: true });
    }
  });

  it('partial tiles: causal, sliding windows, random masks, with softcap and ALiBi (mask applied before or after them)', () => {
    for (const pattern of ['causal', 'causal & sliding(50)', 'sliding(20)', 'random(5, 3)', 'window(30, 10) | sink(2)']) {
      for (const extra of [{}, { softcap: 8 }, { alibi: true }] as AttentionOptions[]) {
        const { q, k, v } = qkv(4, 2, 150, 190, 64, 'float32', 'bshd');
        expectOracle(q, k, v, { pattern, ...extra });
      }
    }
  });

  it('bfloat16 and float16 inputs, dense and masked, with and without RoPE, GQA', () => {
    for (const dtype of ['bfloat16', 'float16'] as DType[]) {
      for (const [pattern, rope] of [['full', false], ['causal', false], ['causal & sliding(40)', false], ['causal', true]] as const) {
        const { q, k, v } = qkv(4, 2, 130, 201, 64, dtype);
        expectOracle(q, k, v, { pattern, ...(rope ? { rope: {} } : {}) });
      }
    }
  });

  it('decoding against a long cache (key ranges split across threads), every dtype', () => {
    for (const dtype of ['float32', 'bfloat16', 'float16'] as DType[]) {
      const { q, k, v } = qkv(8, 2, 1, 2500, 128, dtype);
      expectOracle(q, k, v, { causal: true });
    }
  });

  it('linear attention with feature and value widths that are not whole vectors', () => {
    for (const [dk, dv] of [
      [24, 40],
      [64, 72],
    ]) {
      const { q, k, v } = qkv(2, 1, 150, 150, dk, 'float32');
      const vv = Tensor.randn([1, 1, 150, dv], { seed: seed++ });
      const decay = new Float32Array([0.97, 0.9]);
      const got = linearAttentionSync(q, k, vv, { backend: 'cpu', decay });
      const want = linearOracle(planLinearAttention(q, k, vv, { decay }));
      expect(relError(toBhsd(got), want.out)).toBeLessThanOrEqual(1e-4);
    }
  });
});
