/**
 * The oracle grid every compiled backend must pass ('cpu': the native addon, 'wasm': the same
 * kernels in WebAssembly), through the public API: every pattern, random shapes, dtypes, layouts,
 * GQA ratios and options, decoding against a long KV cache, empty rows, inputs left untouched;
 * off the event loop: the loop stays free, concurrent calls equal sequential ones, memory stays flat.
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionSync, Tensor, type AttentionOptions, type DType } from '../../lib/index.js';
import { Rng } from '../../lib/rng.js';
import { oracle, relError, toBhsd, TOLERANCE } from './oracle.js';

export type CompiledBackend = 'cpu' | 'wasm';

type Layout = 'bhsd' | 'bshd';
let seed = 5000;

function tensors(o: { b: number; hq: number; hkv: number; sq: number; sk: number; d: number; dtype: DType; layout: Layout }) {
  const shape = (h: number, s: number) => (o.layout === 'bhsd' ? [o.b, h, s, o.d] : [o.b, s, h, o.d]);
  const opts = { dtype: o.dtype, layout: o.layout };
  return {
    q: Tensor.randn(shape(o.hq, o.sq), { ...opts, seed: seed++ }),
    k: Tensor.randn(shape(o.hkv, o.sk), { ...opts, seed: seed++ }),
    v: Tensor.randn(shape(o.hkv, o.sk), { ...opts, seed: seed++ }),
  };
}

function poisoned(like: Tensor): Tensor {
  const t = Tensor.zeros(like.shape, { dtype: like.dtype, layout: like.layout });
  (t.data as Float32Array | Uint16Array).fill(like.dtype === 'float32' ? NaN : 0x7e00);
  return t;
}

function expectMatchesOracle(backend: CompiledBackend, q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): void {
  const ref = oracle(q, k, v, options);
  const out = poisoned(q);
  const res = attentionSync(q, k, v, { ...options, backend, returnLse: true, out });
  const err = relError(toBhsd(res.out), ref.out);
  expect(err, `out error ${err} for ${JSON.stringify({ ...options, alibi: undefined })}`).toBeLessThanOrEqual(TOLERANCE[q.dtype]);
  const lseErr = relError(res.lse.toFloat32(), ref.lse);
  expect(lseErr, `lse error ${lseErr}`).toBeLessThanOrEqual(1e-5);
}

const PATTERNS = [
  'full',
  'causal',
  'sliding(17)',
  'window(9, 4)',
  'causal & sliding(40) | sink(3)',
  'dilated(6, 3)',
  'log',
  'strided(5) | block(16)',
  'global(0, 7) & causal',
  'random(9, 4)',
  'randomBlocks(2, 16, 7)',
  'docs(20, 45, 30) & causal',
  'prefix(12)',
  'perHead(causal, sliding(8), full - full)',
  'bigbird(8, 2, 0)',
  'dsa(16, 8, 0)',
];

/** Registers the grid for one backend. `long` sizes the call that keeps the backend busy. */
export function oracleGrid(backend: CompiledBackend, long: { heads: number; seq: number } = { heads: 8, seq: 2048 }): void {
  describe(`${backend} backend: the oracle grid`, () => {
    it('matches the oracle on every pattern (float32, square)', () => {
      for (const pattern of PATTERNS) {
        const { q, k, v } = tensors({ b: 1, hq: 3, hkv: 3, sq: 100, sk: 100, d: 32, dtype: 'float32', layout: 'bhsd' });
        expectMatchesOracle(backend, q, k, v, { pattern });
      }
    });

    it('matches the oracle on random shapes, dtypes, layouts, GQA ratios, patterns and options', () => {
      const rng = new Rng(42);
      const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
      for (let trial = 0; trial < 40; trial++) {
        const hkv = pick([1, 2, 3]);
        const hq = hkv * pick([1, 2, 4]);
        const sk = 1 + rng.int(200);
        const sq = pick([1, 2, 16, sk, 1 + rng.int(200)]);
        const d = pick([8, 16, 32, 64, 80, 128]);
        const dtype = pick<DType>(['float32', 'float16', 'bfloat16']);
        const layout = pick<Layout>(['bhsd', 'bshd']);
        const { q, k, v } = tensors({ b: 1 + rng.int(2), hq, hkv, sq, sk, d, dtype, layout });
        const options: AttentionOptions = { pattern: pick(PATTERNS) };
        if (rng.next() < 0.3) options.causal = true;
        if (rng.next() < 0.3) options.softcap = 5 + rng.next() * 20;
        if (rng.next() < 0.3) options.alibi = true;
        if (rng.next() < 0.3) options.rope = { style: pick(['half', 'interleaved'] as const), offset: rng.int(50), dims: 2 * (1 + rng.int(d / 2)) };
        if (rng.next() < 0.3) options.scale = 0.05 + rng.next() * 0.3;
        expectMatchesOracle(backend, q, k, v, options);
      }
    });

    it('decodes (seqQ 1…16) against a long KV cache with every pattern', () => {
      for (const sq of [1, 3, 16]) {
        for (const pattern of ['causal', 'causal & sliding(300) | sink(4)', 'dsa(64, 16, 0)', 'log']) {
          const { q, k, v } = tensors({ b: 1, hq: 8, hkv: 2, sq, sk: 3000, d: 64, dtype: 'float32', layout: 'bshd' });
          expectMatchesOracle(backend, q, k, v, { pattern });
        }
      }
    });

    it('empty rows give zeros and lse −Infinity', () => {
      const { q, k, v } = tensors({ b: 1, hq: 2, hkv: 1, sq: 70, sk: 30, d: 16, dtype: 'float16', layout: 'bhsd' });
      const res = attentionSync(q, k, v, { causal: true, backend, returnLse: true, out: poisoned(q) });
      const lse = res.lse.toFloat32();
      const out = toBhsd(res.out);
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < 70; i++) {
          const empty = i < 40;
          expect(lse[h * 70 + i] === -Infinity).toBe(empty);
          if (empty) for (let d = 0; d < 16; d++) expect(out[(h * 70 + i) * 16 + d]).toBe(0);
        }
      }
    });

    it('never modifies its inputs', () => {
      const { q, k, v } = tensors({ b: 1, hq: 4, hkv: 2, sq: 64, sk: 64, d: 32, dtype: 'bfloat16', layout: 'bhsd' });
      const before = [q.data.slice(), k.data.slice(), v.data.slice()];
      attentionSync(q, k, v, { causal: true, rope: {}, backend });
      expect([q.data, k.data, v.data]).toEqual(before);
    });
  });

  describe(`${backend} backend off the event loop`, () => {
    it('keeps the event loop free while a long call runs', async () => {
      const { q, k, v } = tensors({ b: 1, hq: long.heads, hkv: long.heads, sq: long.seq, sk: long.seq, d: 64, dtype: 'float32', layout: 'bhsd' });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const start = performance.now();
      let calls = 0;
      // Keep the backend busy for a while; the timer must fire in between.
      while (performance.now() - start < 300 || calls < 2) {
        await attention(q, k, v, { backend });
        calls++;
      }
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(calls);
    });

    it('32 calls in flight give the results of sequential calls', async () => {
      const jobs = Array.from({ length: 32 }, (_, i) => {
        const t = tensors({ b: 1, hq: 2, hkv: 1, sq: 50 + i, sk: 90, d: 32, dtype: i % 2 ? 'float16' : 'float32', layout: 'bhsd' });
        return { ...t, options: { pattern: PATTERNS[i % PATTERNS.length], backend } };
      });
      const sequential = jobs.map((j) => attentionSync(j.q, j.k, j.v, j.options).data.slice());
      const concurrent = await Promise.all(jobs.map((j) => attention(j.q, j.k, j.v, j.options)));
      concurrent.forEach((t, i) => expect(t.data).toEqual(sequential[i]));
    });

    it('a loop of 2,000 calls leaves RSS flat', async () => {
      const { q, k, v } = tensors({ b: 1, hq: 4, hkv: 2, sq: 64, sk: 256, d: 64, dtype: 'float16', layout: 'bhsd' });
      const run = async (n: number) => {
        for (let i = 0; i < n; i++) {
          if (i % 2) attentionSync(q, k, v, { pattern: 'causal & sliding(64)', backend });
          else await attention(q, k, v, { pattern: 'causal & sliding(64)', backend, returnLse: true });
        }
      };
      await run(300); // warm up: pools, caches, JIT
      (globalThis as { gc?: () => void }).gc?.();
      const before = process.memoryUsage.rss();
      await run(2000);
      (globalThis as { gc?: () => void }).gc?.();
      const grown = process.memoryUsage.rss() - before;
      expect(grown).toBeLessThan(48 * 2 ** 20);
    });
  });
}
