/**
 * Where no native binary loads (macOS, Windows, a platform without a prebuild, a failed build),
 * `backend: 'auto'` runs the wasm backend — the same kernels — for attention, linear attention and a KVCache,
 * and info() says so and why; 'cpu' still says how to get a binary. The loader is replaced by one
 * that fails as node-gyp-build does.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../lib/native/load.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/native/load.js')>();
  const error = 'No native build was found for platform=darwin arch=arm64 runtime=node abi=115 uv=1 node=20.19.0';
  return {
    ...real,
    tryLoadNative: () => ({ error }),
    loadNative: () => {
      throw new real.NativeUnavailableError(error);
    },
  };
});

const { attention, attentionSync, formatInfo, info, KVCache, linearAttention, linearAttentionSync, NativeUnavailableError, Tensor } = await import('../lib/index.js');
const { oracle, relError, toBhsd, TOLERANCE } = await import('./helpers/oracle.js');
const { linearOracle } = await import('../lib/linear/reference.js');
const { planLinearAttention } = await import('../lib/linear/plan.js');

function qkv(dtype: 'float32' | 'float16' = 'float32') {
  const q = Tensor.randn([1, 4, 100, 32], { seed: 11, dtype });
  const k = Tensor.randn([1, 2, 100, 32], { seed: 12, dtype });
  const v = Tensor.randn([1, 2, 100, 32], { seed: 13, dtype });
  return { q, k, v };
}

describe('without a native binary', () => {
  it("info() says 'auto' runs wasm, and why", () => {
    const i = info();
    expect(i.backends.cpu.available).toBe(false);
    expect(i.backends.wasm.available).toBe(true);
    expect(i.auto.backend).toBe('wasm');
    expect(i.auto.reason).toContain('platform=darwin arch=arm64');
    expect(i.auto.reason).toMatch(/WebAssembly backend/);
    expect(formatInfo(i)).toMatch(/auto \(host tensors\): wasm/);
  });

  it("attention with backend 'auto' (the default) runs on wasm: the oracle's result, no warning", async () => {
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on('warning', onWarning);
    for (const dtype of ['float32', 'float16'] as const) {
      const { q, k, v } = qkv(dtype);
      const o = { pattern: 'causal & sliding(40) | sink(2)', rope: {}, returnLse: true } as const;
      const ref = oracle(q, k, v, o);
      const a = attentionSync(q, k, v, o);
      const b = await attention(q, k, v, { ...o, backend: 'auto' });
      for (const r of [a, b]) {
        expect(relError(toBhsd(r.out), ref.out)).toBeLessThanOrEqual(TOLERANCE[dtype]);
        expect(relError(r.lse.toFloat32(), ref.lse)).toBeLessThanOrEqual(1e-5);
      }
      // bit for bit what backend 'wasm' gives: it ran there, not on the reference
      expect(a.out.data).toEqual(attentionSync(q, k, v, { ...o, backend: 'wasm' }).out.data);
    }
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(warnings).toEqual([]);
  });

  it("a KVCache (h2o: key masses; select; explicit key positions) runs on 'auto', as on 'wasm', without the addon", async () => {
    // the same steps on two caches: 'auto' (falls to wasm) and 'wasm'; the Quest scores are
    // TypeScript's, so neither call loads the addon (whose loader throws here)
    const Hkv = 2, D = 16, N = 220;
    const q = Tensor.randn([1, 4, N, D], { seed: 21 });
    const k = Tensor.randn([1, Hkv, N, D], { seed: 22 });
    const v = Tensor.randn([1, Hkv, N, D], { seed: 23 });
    const rows = (t: InstanceType<typeof Tensor>, a: number, b: number) => {
      const [B, H, , d] = t.shape;
      const src = t.toFloat32(), out = new Float32Array(B * H * (b - a) * d);
      for (let h = 0; h < B * H; h++) out.set(src.subarray((h * N + a) * d, (h * N + b) * d), h * (b - a) * d);
      return Tensor.from(out, [B, H, b - a, d]);
    };
    const caches = ['auto', 'wasm'].map(() => new KVCache({ batch: 1, kvHeads: Hkv, headDim: D, budget: 100, policy: 'h2o', sinks: 2, recent: 8 }));
    for (let at = 0; at < N; ) {
      const n = at < 128 ? 32 : 1;
      const o = { select: { blocks: 1 } } as const;
      const a = await caches[0].attention(rows(q, at, at + n), rows(k, at, at + n), rows(v, at, at + n), o);
      const b = caches[1].attentionSync(rows(q, at, at + n), rows(k, at, at + n), rows(v, at, at + n), { ...o, backend: 'wasm' });
      expect(a.data).toEqual(b.data);
      at += n;
    }
    expect(caches[0].positions(0)).toEqual(caches[1].positions(0));
    expect(caches[0].length).toBe(100);
  });

  it("linearAttention with backend 'auto' runs on wasm", async () => {
    const { q, k, v } = qkv();
    const o = { decay: 0.95, returnState: true } as const;
    const ref = linearOracle(planLinearAttention(q, k, v, o));
    const a = linearAttentionSync(q, k, v, o);
    const b = await linearAttention(q, k, v, o);
    expect(relError(toBhsd(a.out), ref.out)).toBeLessThanOrEqual(1e-5);
    expect(b.out.data).toEqual(a.out.data);
    expect(a.out.data).toEqual(linearAttentionSync(q, k, v, { ...o, backend: 'wasm' }).out.data);
  });

  it("backend 'cpu' still throws NativeUnavailableError, saying how to get a binary", () => {
    const { q, k, v } = qkv();
    expect(() => attentionSync(q, k, v, { backend: 'cpu' })).toThrow(NativeUnavailableError);
    expect(() => linearAttentionSync(q, k, v, { backend: 'cpu' })).toThrow(NativeUnavailableError);
  });
});
