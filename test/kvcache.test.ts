/**
 * KVCache: with a budget no smaller than the positions seen every policy is full attention, bit for
 * bit; window and streaming keep exactly the positions they promise and attend over exactly them;
 * h2o keeps planted heavy hitters that a window loses; the adaptive split gives a head with
 * concentrated attention fewer keys than a diffuse one; storage never grows per token; bad input
 * gets clear errors and a failed call leaves the cache as it was.
 */
import { describe, expect, it } from 'vitest';
import { attentionSync } from '../lib/attention/run.js';
import { KVCache, type KVCacheOptions } from '../lib/kvcache/index.js';
import { toPattern } from '../lib/patterns/index.js';
import { TileClass, type Pattern } from '../lib/patterns/pattern.js';
import { Tensor, type DType } from '../lib/tensor.js';
import { relError, toBhsd } from './helpers/oracle.js';
import { Gen } from './reliability/fuzz.js';

/** Rows [s0, s1) of a [B, H, S, D] bhsd tensor, as a new tensor. */
function rows(t: Tensor, s0: number, s1: number): Tensor {
  const [B, H, S, D] = t.shape;
  const src = t.data;
  const out = Tensor.zeros([B, H, s1 - s0, D], { dtype: t.dtype });
  for (let bh = 0; bh < B * H; bh++) out.data.set(src.subarray((bh * S + s0) * D, (bh * S + s1) * D), bh * (s1 - s0) * D);
  return out;
}

/** Chunk lengths summing to n: a few prefill chunks, then single-token decode steps. */
function chunks(g: Gen, n: number, prefill: number): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < prefill) {
    const c = Math.min(prefill - at, g.int(1, 90));
    out.push(c);
    at += c;
  }
  while (at < n) {
    out.push(1);
    at++;
  }
  return out;
}

/** causal, restricted to a set of key positions (the independent way to say "these keys only") */
function only(keys: Set<number>, base: Pattern = toPattern('causal')): Pattern {
  return { toString: () => 'only', allows: (p, j, h) => keys.has(j) && base.allows(p, j, h), classify: () => TileClass.Partial, headPeriod: 1 };
}

const POLICIES = ['window', 'streaming', 'h2o', 'adaptive'] as const;

describe('KVCache with budget ≥ seen equals full attention exactly', () => {
  for (const policy of POLICIES) {
    for (const backend of ['reference', 'cpu', 'wasm'] as const) {
      it(`${policy} on ${backend}: every call, all dtypes, GQA, RoPE`, () => {
        const g = new Gen(1620 + POLICIES.indexOf(policy));
        for (const dtype of ['float32', 'float16', 'bfloat16'] as DType[]) {
          const B = 2;
          const Hkv = 2;
          const Hq = 4;
          const D = 16;
          const N = backend === 'reference' ? 110 : 260;
          const rope = dtype === 'float32' && backend === 'reference' ? { base: 10000 } : undefined;
          const q = Tensor.randn([B, Hq, N, D], { dtype, seed: g.int(0, 1e9) });
          const k = Tensor.randn([B, Hkv, N, D], { dtype, seed: g.int(0, 1e9) });
          const v = Tensor.randn([B, Hkv, N, D], { dtype, seed: g.int(0, 1e9) });
          const budget = policy === 'adaptive' ? Hkv * N : N;
          const cache = new KVCache({ batch: B, kvHeads: Hkv, headDim: D, dtype, budget, policy, maxChunk: 32 });
          let at = 0;
          for (const n of chunks(g, N, 100)) {
            const got = cache.attentionSync(rows(q, at, at + n), rows(k, at, at + n), rows(v, at, at + n), { backend, rope });
            const want = attentionSync(rows(q, at, at + n), rows(k, 0, at + n), rows(v, 0, at + n), { causal: true, backend, rope });
            at += n;
            expect(cache.seen).toBe(at);
            expect(cache.length).toBe(at);
            const a = got.data;
            const b = want.data;
            let same = true;
            for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) same = false;
            expect(same, `${dtype} after ${at} positions`).toBe(true);
          }
        }
      });
    }
  }
});

describe('KVCache: window and streaming keep exactly what they promise', () => {
  for (const backend of ['reference', 'cpu', 'wasm'] as const) {
    it(`${backend}: window keeps the budget most recent positions; each call attends over the kept and new keys only`, () => {
      const g = new Gen(1630);
      const [B, Hkv, Hq, D, N, W] = [1, 2, 4, 16, 300, 40];
      const q = Tensor.randn([B, Hq, N, D], { seed: 1 });
      const k = Tensor.randn([B, Hkv, N, D], { seed: 2 });
      const v = Tensor.randn([B, Hkv, N, D], { seed: 3 });
      const cache = new KVCache({ batch: B, kvHeads: Hkv, headDim: D, budget: W, policy: 'window', maxChunk: 16 });
      let at = 0;
      for (const n of chunks(g, N, 120)) {
        const before = new Set(cache.positions(0));
        for (let p = at; p < at + n; p++) before.add(p);
        const got = cache.attentionSync(rows(q, at, at + n), rows(k, at, at + n), rows(v, at, at + n), { backend });
        const want = attentionSync(rows(q, at, at + n), rows(k, 0, at + n), rows(v, 0, at + n), { pattern: only(before), backend: 'reference' });
        expect(relError(toBhsd(got), toBhsd(want)), `after ${at + n}`).toBeLessThanOrEqual(1e-5);
        at += n;
        const expected = Array.from({ length: Math.min(W, at) }, (_, i) => at - Math.min(W, at) + i);
        for (const h of [0, 1]) expect([...cache.positions(h)]).toEqual(expected);
      }
    });
  }

  it('streaming keeps the sinks and the most recent positions', () => {
    const g = new Gen(1631);
    const [D, N, W, S] = [8, 200, 24, 4];
    const q = Tensor.randn([1, 1, N, D], { seed: 4 });
    const k = Tensor.randn([1, 1, N, D], { seed: 5 });
    const cache = new KVCache({ batch: 1, kvHeads: 1, headDim: D, budget: W, policy: 'streaming', sinks: S });
    let at = 0;
    for (const n of chunks(g, N, 60)) {
      const before = new Set(cache.positions(0));
      for (let p = at; p < at + n; p++) before.add(p);
      const got = cache.attentionSync(rows(q, at, at + n), rows(k, at, at + n), rows(k, at, at + n), { backend: 'cpu' });
      const want = attentionSync(rows(q, at, at + n), rows(k, 0, at + n), rows(k, 0, at + n), { pattern: only(before), backend: 'reference' });
      expect(relError(toBhsd(got), toBhsd(want))).toBeLessThanOrEqual(1e-5);
      at += n;
      const keep = Math.min(W, at);
      const expected = at <= W ? Array.from({ length: at }, (_, i) => i) : [...Array.from({ length: S }, (_, i) => i), ...Array.from({ length: keep - S }, (_, i) => at - (keep - S) + i)];
      expect([...cache.positions(0)]).toEqual(expected);
    }
  });
});

/**
 * Decoding data with planted heavy hitters: every query shares a direction u; the keys at
 * `planted` positions point along u (every query attends to them strongly), the others are small
 * noise. Per kv head, `spread` scales the queries: 0 gives uniform (diffuse) attention.
 */
function planted(N: number, D: number, Hkv: number, plantedAt: number[], spread: number[], seed: number) {
  const g = new Gen(seed);
  const u = Float32Array.from({ length: D }, () => g.normal());
  const norm = Math.hypot(...u);
  for (let d = 0; d < D; d++) u[d] /= norm;
  const q = new Float32Array(Hkv * N * D);
  const k = new Float32Array(Hkv * N * D);
  const v = new Float32Array(Hkv * N * D);
  const plantedSet = new Set(plantedAt);
  for (let h = 0; h < Hkv; h++) {
    for (let i = 0; i < N; i++) {
      for (let d = 0; d < D; d++) {
        const o = (h * N + i) * D + d;
        q[o] = spread[h] * (6 * u[d] + 0.3 * g.normal());
        k[o] = plantedSet.has(i) ? 3 * u[d] : 0.3 * g.normal();
        v[o] = g.normal();
      }
    }
  }
  return { q: Tensor.from(q, [1, Hkv, N, D]), k: Tensor.from(k, [1, Hkv, N, D]), v: Tensor.from(v, [1, Hkv, N, D]) };
}

function run(cache: KVCache, t: { q: Tensor; k: Tensor; v: Tensor }, N: number, prefill: number, backend: 'reference' | 'cpu' | 'wasm'): void {
  for (let at = 0; at < N; ) {
    const n = at < prefill ? Math.min(32, prefill - at) : 1;
    cache.attentionSync(rows(t.q, at, at + n), rows(t.k, at, at + n), rows(t.v, at, at + n), { backend });
    at += n;
  }
}

describe('KVCache: h2o and adaptive', () => {
  for (const backend of ['reference', 'cpu', 'wasm'] as const) {
    it(`${backend}: h2o keeps planted heavy hitters that a window of the same budget loses`, () => {
      const N = 400;
      const heavy = [9, 57, 130, 201];
      const t = planted(N, 16, 1, heavy, [1], 1640);
      const h2o = new KVCache({ batch: 1, kvHeads: 1, headDim: 16, budget: 32, policy: 'h2o', sinks: 2, recent: 8 });
      run(h2o, t, N, 96, backend);
      const kept = new Set(h2o.positions(0));
      for (const p of heavy) expect(kept.has(p), `heavy hitter ${p} kept`).toBe(true);
      expect(h2o.length).toBe(32);
      expect([...h2o.positions(0)].slice(-8)).toEqual(Array.from({ length: 8 }, (_, i) => N - 8 + i)); // recent
      expect([...h2o.positions(0)].slice(0, 2)).toEqual([0, 1]); // sinks
      const window = new KVCache({ batch: 1, kvHeads: 1, headDim: 16, budget: 32, policy: 'window' });
      run(window, t, N, 96, backend);
      expect(heavy.some((p) => new Set(window.positions(0)).has(p))).toBe(false);
    });

    it(`${backend}: adaptive gives the head with concentrated attention fewer keys than the diffuse head, within the total`, () => {
      const N = 300;
      const t = planted(N, 16, 2, [5, 80, 150], [1, 0.02], 1641);
      const cache = new KVCache({ batch: 1, kvHeads: 2, headDim: 16, budget: 64, policy: { type: 'adaptive', sinks: 2, recent: 4 } });
      run(cache, t, N, 64, backend);
      const split = cache.budgetsPerHead();
      expect(split[0] + split[1]).toBe(64);
      expect(cache.lengthOf(0) + cache.lengthOf(1)).toBe(64);
      expect(split[0]).toBeLessThan(split[1]);
      const kept0 = new Set(cache.positions(0));
      for (const p of [5, 80, 150]) expect(kept0.has(p)).toBe(true);
    });
  }

  it('holds its memory from the start: no growth over many decode steps', () => {
    for (const policy of POLICIES) {
      const cache = new KVCache({ batch: 1, kvHeads: 2, headDim: 8, budget: policy === 'adaptive' ? 32 : 16, policy, maxChunk: 8 });
      const k = Tensor.randn([1, 2, 1, 8], { seed: 7 });
      const q = Tensor.randn([1, 2, 1, 8], { seed: 8 });
      cache.attentionSync(q, k, k, { backend: 'reference' });
      const bytes = cache.bytes;
      for (let i = 0; i < 200; i++) cache.attentionSync(q, k, k, { backend: 'reference' });
      expect(cache.bytes, policy).toBe(bytes);
      expect(cache.seen).toBe(201);
    }
  });
});

describe('KVCache: bad input', () => {
  const base: KVCacheOptions = { batch: 1, kvHeads: 2, headDim: 8, budget: 16, policy: 'window' };
  it('constructor options name the option and what was expected', () => {
    expect(() => new KVCache({ ...base, budget: 0 })).toThrow(/options\.budget must be in \[1/);
    expect(() => new KVCache({ ...base, budget: [4] })).toThrow(/options\.budget must hold one number per kv head \(2\)/);
    expect(() => new KVCache({ ...base, policy: 'lru' as never })).toThrow(/options\.policy must be one of/);
    expect(() => new KVCache({ ...base, policy: 'streaming', sinks: 16 })).toThrow(/options\.sinks \(16\) must be smaller than the budget/);
    expect(() => new KVCache({ ...base, policy: 'h2o', sinks: 4, recent: 13 })).toThrow(/sinks \+ recent/);
    expect(() => new KVCache({ ...base, device: 'gpu' })).toThrow(/options\.device must be 'cpu', 'cuda' or 'cuda:N' \(got "gpu"\)/);
    expect(() => new KVCache({ ...base, device: 1 as never })).toThrow(TypeError);
    expect(() => new KVCache({ ...base, headDim: 1.5 })).toThrow(TypeError);
    expect(() => new KVCache({ ...base, extra: 1 } as never)).toThrow(/options\.extra is not a KVCache option/);
  });
  it('calls name the argument; a failed call leaves the cache unchanged', () => {
    const cache = new KVCache(base);
    const q = Tensor.randn([1, 2, 3, 8], { seed: 1 });
    const k = Tensor.randn([1, 2, 3, 8], { seed: 2 });
    cache.attentionSync(q, k, k, { backend: 'reference' });
    const before = [...cache.positions(0)];
    expect(() => cache.attentionSync(q, Tensor.randn([1, 1, 3, 8], { seed: 3 }), Tensor.randn([1, 1, 3, 8], { seed: 3 }))).toThrow(/k has 1 heads but the cache was made for 2/);
    expect(() => cache.attentionSync(q, k, k, { keyPositions: new Int32Array(3) } as never)).toThrow(/options\.keyPositions is not an option/);
    expect(() => cache.attentionSync(q, k, k, { pattern: 'causal &' })).toThrow(SyntaxError);
    expect(() => cache.attentionSync(q, k, k, { rope: { base: 100 } })).toThrow(/options\.rope must be the same on every call/);
    expect(() => cache.attentionSync(Tensor.randn([1, 2, 7, 8], { seed: 1 }), k, k)).toThrow(/q holds 7 query rows/);
    expect(cache.seen).toBe(3);
    expect([...cache.positions(0)]).toEqual(before);
    expect(() => cache.positions(2)).toThrow(/head must be in \[0, 1\]/);
  });
  it('an aborted call rejects with an AbortError and leaves the cache unchanged', async () => {
    const cache = new KVCache(base);
    const q = Tensor.randn([1, 2, 2, 8], { seed: 1 });
    await cache.attention(q, q, q);
    const before = [...cache.positions(1)];
    const ac = new AbortController();
    ac.abort();
    await expect(cache.attention(q, q, q, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(cache.seen).toBe(2);
    expect([...cache.positions(1)]).toEqual(before);
    await cache.attention(q, q, q);
    expect(cache.seen).toBe(4);
  });

  it('refuses a second call while one is running', async () => {
    const cache = new KVCache(base);
    const q = Tensor.randn([1, 2, 1, 8], { seed: 1 });
    const first = cache.attention(q, q, q);
    await expect(cache.attention(q, q, q)).rejects.toThrow(/has not finished/);
    await first;
    await cache.attention(q, q, q);
    expect(cache.seen).toBe(2);
  });
});
