/**
 * The device KVCache (device: 'cuda') and `select` on the cuda backend, without a GPU: the addon's
 * CUDA functions are replaced by a fake (test/helpers/fake-cuda.ts) whose "device" memory is host
 * arrays and whose cudaAttention runs the native CPU kernel over them. So the device cache's own
 * work — slots written by offset (RoPE applied once on the host), evictions moved slot by slot on
 * the device, key masses brought back for h2o / adaptive, per-batch selection masks — is checked
 * bit for bit against the host cache running the same kernel, and what it allocates and copies is
 * counted. The CUDA kernels on these calls are test/gpu/kvcache-device.test.mjs.
 */
import { describe, expect, it, vi } from 'vitest';
import type { FakeCuda } from './helpers/fake-cuda.js';

const fake = vi.hoisted(() => ({ current: null as FakeCuda | null }));

vi.mock('../lib/native/cuda.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/native/cuda.js')>();
  const { makeFakeCuda } = await import('./helpers/fake-cuda.js');
  fake.current = makeFakeCuda();
  const f = fake.current;
  const info = { compiled: true, available: true, reason: '', runtimeVersion: 0, driverVersion: 0, devices: [{}] };
  const reason = (device: string) => (device === 'cpu' || device === 'cuda' || device === 'cuda:0' ? null : `${device}: no such device (this machine has 1 CUDA device)`);
  return {
    ...real,
    cudaNative: () => ({ cuda: f.cuda, info }),
    cudaUnavailableReason: reason,
    requireCuda: (device: string, what: string) => {
      const why = reason(device);
      if (why !== null) throw new Error(`${what}: ${why}`);
      return f.cuda;
    },
  };
});

import { attentionSync, attention } from '../lib/attention/run.js';
import { KVCache, type KVCacheOptions } from '../lib/kvcache/index.js';
import { Tensor, type DType } from '../lib/tensor.js';
import { relError } from './helpers/oracle.js';
import { Gen } from './reliability/fuzz.js';

const POLICIES = ['window', 'streaming', 'h2o', 'adaptive'] as const;

/** Rows [s0, s1) of a [B, H, S, D] bhsd host tensor, as a new tensor. */
function rows(t: Tensor, s0: number, s1: number): Tensor {
  const [B, H, S, D] = t.shape;
  const out = Tensor.zeros([B, H, s1 - s0, D], { dtype: t.dtype });
  for (let bh = 0; bh < B * H; bh++) out.data.set(t.data.subarray((bh * S + s0) * D, (bh * S + s1) * D), bh * (s1 - s0) * D);
  return out;
}

/**
 * [B, H, N, D] inputs with planted heavy hitters (every query leans along u; the keys at `heavy`
 * point along it), so that h2o and adaptive have real choices to make.
 */
function planted(B: number, Hq: number, Hkv: number, N: number, D: number, heavy: number[], dtype: DType, seed: number) {
  const g = new Gen(seed);
  const u = Float32Array.from({ length: D }, () => g.normal());
  const set = new Set(heavy);
  const make = (H: number, f: (i: number, d: number, h: number) => number) => {
    const a = new Float32Array(B * H * N * D);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) a[((b * H + h) * N + i) * D + d] = f(i, d, h);
    return Tensor.fromFloat32(a, [B, H, N, D], { dtype });
  };
  return {
    q: make(Hq, (_i, d, h) => (h % 2 ? 0.3 : 1) * (1.5 * u[d] + 0.3 * g.normal())),
    k: make(Hkv, (i, d) => (set.has(i) ? 1.2 * u[d] : 0.3 * g.normal())),
    v: make(Hkv, () => g.normal()),
  };
}

function bits(t: Tensor): number[] {
  return Array.from(t.device === 'cpu' ? t.data : t.to('cpu').data);
}

describe('KVCache on a (fake) CUDA device equals the host cache', () => {
  for (const policy of POLICIES) {
    for (const dtype of ['float32', 'float16'] as DType[]) {
      it(`${policy}, ${dtype}: outputs bit for bit and kept positions at every step; host and device inputs; RoPE`, async () => {
        const [B, Hq, Hkv, D, N] = [2, 4, 2, 16, 150];
        const t = planted(B, Hq, Hkv, N, D, [3, 40, 77], dtype, 1700 + POLICIES.indexOf(policy));
        const options: KVCacheOptions = { batch: B, kvHeads: Hkv, headDim: D, dtype, budget: policy === 'adaptive' ? 48 : 24, policy, maxChunk: 16 };
        const host = new KVCache(options);
        const dev = new KVCache({ ...options, device: 'cuda' });
        const devIn = new KVCache({ ...options, device: 'cuda:0' });
        expect(dev.device).toBe('cuda:0');
        const call = { rope: { base: 10000 }, backend: 'cpu' as const };
        let step = 0;
        for (let at = 0; at < N; step++) {
          const n = at < 60 ? Math.min(23, 60 - at) : 1;
          const [q, k, v] = [t.q, t.k, t.v].map((x) => rows(x, at, at + n));
          const want = host.attentionSync(q, k, v, call);
          const got = step % 2 ? await dev.attention(q, k, v, { rope: call.rope }) : dev.attentionSync(q, k, v, { rope: call.rope });
          expect(got.device).toBe('cpu');
          expect(bits(got)).toEqual(bits(want));
          const [qd, kd, vd] = [q, k, v].map((x) => x.to('cuda'));
          const gotDev = devIn.attentionSync(qd, kd, vd, { rope: call.rope });
          expect(gotDev.device).toBe('cuda:0');
          expect(bits(gotDev)).toEqual(bits(want));
          for (const x of [qd, kd, vd, gotDev]) x.dispose();
          for (let h = 0; h < Hkv; h++) {
            expect([...dev.positions(h)], `step ${step} head ${h}`).toEqual([...host.positions(h)]);
            expect([...devIn.positions(h)]).toEqual([...host.positions(h)]);
          }
          at += n;
        }
        expect(dev.seen).toBe(N);
        expect(dev.length).toBeLessThan(N);
        if (policy === 'h2o') for (const p of [3, 40, 77]) expect([...dev.positions(0)]).toContain(p);
        dev.dispose();
        devIn.dispose();
      });
    }
  }

  it('with budget ≥ seen, every policy equals full attention (bit for bit with the CPU backend)', () => {
    const [B, Hq, Hkv, D, N] = [1, 4, 2, 16, 90];
    const t = planted(B, Hq, Hkv, N, D, [5], 'float32', 1710);
    for (const policy of POLICIES) {
      const cache = new KVCache({ batch: B, kvHeads: Hkv, headDim: D, budget: policy === 'adaptive' ? 4 * N : 2 * N, policy, device: 'cuda' });
      for (let at = 0; at < N; ) {
        const n = at < 40 ? 20 : 1;
        const got = cache.attentionSync(rows(t.q, at, at + n), rows(t.k, at, at + n), rows(t.v, at, at + n));
        const want = attentionSync(rows(t.q, at, at + n), rows(t.k, 0, at + n), rows(t.v, 0, at + n), { causal: true, backend: 'cpu' });
        expect(bits(got), `${policy} at ${at}`).toEqual(bits(want));
        at += n;
      }
      cache.dispose();
    }
  });
});

describe('device KVCache: memory and copies', () => {
  it('allocates its slots once: no device allocation per decode step, O(1) copies per evicted key', () => {
    const f = fake.current!;
    const [B, Hq, Hkv, D] = [2, 4, 2, 16];
    const t = planted(B, Hq, Hkv, 400, D, [7], 'float32', 1720);
    for (const policy of POLICIES) {
      const cache = new KVCache({ batch: B, kvHeads: Hkv, headDim: D, budget: 64, policy, maxChunk: 8, device: 'cuda' });
      const [q0, k0, v0] = [t.q, t.k, t.v].map((x) => rows(x, 0, 8).to('cuda'));
      const out = q0.to('cuda');
      cache.attentionSync(q0, k0, v0, { out });
      const live = f.live.size;
      const bytes = f.liveBytes();
      const before = new Map(f.calls);
      const steps = 200;
      for (let s = 8; s < 8 + steps; s++) {
        const [q, k, v] = [t.q, t.k, t.v].map((x) => rows(x, s, s + 1).to('cuda'));
        const o = rows(t.q, s, s + 1).to('cuda');
        cache.attentionSync(q, k, v, { out: o });
        for (const x of [q, k, v, o]) x.dispose();
        expect(f.live.size, policy).toBe(live);
        expect(f.liveBytes()).toBe(bytes);
      }
      const per = (name: string) => ((f.calls.get(name) ?? 0) - (before.get(name) ?? 0)) / steps;
      // each step: q, k, v, out uploaded by the test (4 allocations); the cache adds only what the
      // kernel returns (key masses and the lse that comes with them for h2o / adaptive, freed at
      // once), never storage
      expect(per('cudaAlloc'), policy).toBe(policy === 'h2o' || policy === 'adaptive' ? 6 : 4);
      // one key and value row per head and batch element appended; an evicted key moves at most one row each
      expect(per('cudaCopyDevice'), policy).toBeLessThanOrEqual(2 * B * Hkv + 2 * B * Hkv);
      expect(cache.deviceBytes).toBe(2 * B * Hkv * (64 + 8) * D * 4);
      const held = f.liveBytes();
      cache.dispose();
      expect(f.liveBytes()).toBe(held - cache.deviceBytes);
      for (const x of [q0, k0, v0, out]) x.dispose();
    }
  });

  it('a chunk larger than ever before grows the slots once, keeping every key', () => {
    const t = planted(1, 2, 1, 120, 8, [], 'float32', 1730);
    const opts = { batch: 1, kvHeads: 1, headDim: 8, budget: 16, policy: 'streaming' as const, maxChunk: 4 };
    const [host, dev] = [new KVCache(opts), new KVCache({ ...opts, device: 'cuda' })];
    for (const [a, b] of [[0, 3], [3, 40], [40, 41], [41, 100]]) {
      const args = [t.q, t.k, t.v].map((x) => rows(x, a, b)) as [Tensor, Tensor, Tensor];
      expect(bits(dev.attentionSync(...args))).toEqual(bits(host.attentionSync(...args, { backend: 'cpu' })));
      expect([...dev.positions(0)]).toEqual([...host.positions(0)]);
    }
    dev.dispose();
  });
});

describe('select on the cuda backend', () => {
  it('attention() on device tensors chooses and runs the same blocks as on the CPU', async () => {
    const [B, Hq, Hkv, D, S] = [2, 4, 2, 16, 300];
    const t = planted(B, Hq, Hkv, S, D, [10, 200], 'float32', 1740);
    const options = { causal: true, select: { blocks: 2, blockSize: 32 }, returnKeyMass: true as const };
    const want = attentionSync(t.q, t.k, t.v, { ...options, backend: 'cpu' });
    const [qd, kd, vd] = [t.q, t.k, t.v].map((x) => x.to('cuda'));
    for (const got of [attentionSync(qd, kd, vd, options), await attention(qd, kd, vd, options), attentionSync(t.q, t.k, t.v, { ...options, backend: 'cuda' })]) {
      expect(bits(got.out)).toEqual(bits(want.out));
      expect(bits(got.lse)).toEqual(bits(want.lse));
      // the CPU kernel's threads add key masses in an order that varies from run to run
      expect(relError(got.keyMass.toFloat32(), want.keyMass.toFloat32())).toBeLessThan(1e-6);
    }
    // and the selection is a real restriction: full causal attention differs
    expect(bits(attentionSync(t.q, t.k, t.v, { causal: true, backend: 'cpu' }))).not.toEqual(bits(want.out));
  });

  it('cache.attention with select on a device cache equals the host cache (bounds from the host mirror of the keys)', () => {
    const [B, Hq, Hkv, D, N] = [2, 4, 2, 16, 260];
    const t = planted(B, Hq, Hkv, N, D, [9, 130], 'float32', 1750);
    for (const policy of ['window', 'h2o'] as const) {
      const opts: KVCacheOptions = { batch: B, kvHeads: Hkv, headDim: D, budget: 160, policy, blockSize: 16 };
      const host = new KVCache(opts);
      const dev = new KVCache({ ...opts, device: 'cuda' });
      const plain = new KVCache(opts);
      const call = { select: { blocks: 3, blockSize: 16 }, rope: { base: 500 } };
      let differs = 0;
      for (let at = 0; at < N; ) {
        const n = at < 100 ? 50 : 1;
        const args = [t.q, t.k, t.v].map((x) => rows(x, at, at + n)) as [Tensor, Tensor, Tensor];
        const want = host.attentionSync(...args, { ...call, backend: 'cpu' });
        expect(bits(dev.attentionSync(...args, call)), `${policy} at ${at}`).toEqual(bits(want));
        // the selection is a real restriction: the same cache without select answers differently
        if (bits(plain.attentionSync(...args, { rope: call.rope, backend: 'cpu' })).join() !== bits(want).join()) differs++;
        expect([...dev.positions(1)]).toEqual([...host.positions(1)]);
        at += n;
      }
      expect(differs).toBeGreaterThan(N / 2);
      dev.dispose();
    }
  });
});

describe('device KVCache: bad input', () => {
  const base: KVCacheOptions = { batch: 1, kvHeads: 1, headDim: 8, budget: 8, policy: 'window', device: 'cuda' };
  it('names the device, the argument and what was expected; a failed call leaves the cache unchanged', () => {
    expect(() => new KVCache({ ...base, device: 'cuda:3' })).toThrow(/^new KVCache: cuda:3: no such device/);
    expect(() => new KVCache({ ...base, device: 'gpu' })).toThrow(/options\.device must be 'cpu', 'cuda' or 'cuda:N'/);
    expect(() => new KVCache({ ...base, device: 0 as never })).toThrow(TypeError);
    const cache = new KVCache(base);
    const x = Tensor.randn([1, 1, 2, 8], { seed: 1 });
    cache.attentionSync(x, x, x);
    expect(() => cache.attentionSync(x, x, x, { out: Tensor.zeros([1, 1, 2, 8]) })).toThrow(/options\.out: with host q, k and v a cache on cuda:0/);
    expect(() => cache.attentionSync(x, x, x, { backend: 'cpu' })).toThrow(/runs on the host, but q, k and v are on cuda:0/);
    expect(cache.seen).toBe(2);
    expect([...cache.positions(0)]).toEqual([0, 1]);
    cache.dispose();
  });
});
