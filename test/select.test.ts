/**
 * Query-aware block selection (option select): the Quest bound bounds every score of its block;
 * planted relevant blocks are the ones selected; the selection stays within the pattern and keeps
 * the diagonal block; attention over the selection is exact (against an independent "these keys
 * only" pattern) on every backend; with enough blocks it is full attention; a KVCache keeps its
 * bounds up to date as keys come and go.
 */
import { describe, expect, it } from 'vitest';
import { attentionSync } from '../lib/attention/run.js';
import { operandView } from '../lib/backends/operands.js';
import { KVCache } from '../lib/kvcache/index.js';
import { loadNative } from '../lib/native/load.js';
import { toPattern } from '../lib/patterns/index.js';
import { TileClass, type Pattern } from '../lib/patterns/pattern.js';
import { keyBlockBounds, questBound, selectBlocks, type SelectionProblem } from '../lib/select/quest.js';
import type { Selection } from '../lib/select/selection.js';
import { Tensor, type DType } from '../lib/tensor.js';
import { planAttention, type AttentionOptions } from '../lib/attention/plan.js';
import { relError, toBhsd, TOLERANCE } from './helpers/oracle.js';
import { Gen } from './reliability/fuzz.js';

function problemOf(q: Tensor, k: Tensor, options: AttentionOptions): SelectionProblem {
  const plan = planAttention(q, k, k, { ...options, backend: 'reference' });
  return { q: operandView(plan.q), k: operandView(plan.k), pattern: plan.pattern, rope: plan.rope, positions: plan.positions, blocks: plan.select!.blocks, blockSize: plan.select!.blockSize };
}

function rowOf(sel: Selection, b: number, hk: number, qb: number): number[] {
  const r = (b * sel.kvHeads + hk) * sel.numQBlocks + qb;
  return [...sel.blocks.subarray(sel.rowPtr[r], sel.rowPtr[r + 1])];
}

/** `base`, restricted to the keys of the selected blocks of each (batch-free) kv head and query block */
function restricted(base: Pattern, sel: Selection, hkOfHead: (h: number) => number, firstPos: number, b = 0): Pattern {
  return {
    toString: () => 'restricted',
    allows: (p, j, h) => base.allows(p, j, h) && rowOf(sel, b, hkOfHead(h), Math.floor((p - firstPos) / sel.blockSize)).includes(Math.floor(j / sel.blockSize)),
    classify: () => TileClass.Partial,
    headPeriod: base.headPeriod,
  };
}

/** Decode data: keys are small noise except `relevant` blocks, whose keys point along the queries' shared direction. */
function plantedBlocks(nBlocks: number, bs: number, D: number, relevant: number[], seed: number, Hq = 4, Sq = 1) {
  const g = new Gen(seed);
  const u = Float32Array.from({ length: D }, () => g.normal());
  const Sk = nBlocks * bs;
  const q = new Float32Array(Hq * Sq * D).map((_, i) => 2 * u[i % D] + 0.2 * g.normal());
  const k = new Float32Array(Sk * D);
  for (let j = 0; j < Sk; j++) {
    const hot = relevant.includes(Math.floor(j / bs)) && g.bool(0.5);
    for (let d = 0; d < D; d++) k[j * D + d] = hot ? u[d] : 0.2 * g.normal();
  }
  return { q: Tensor.from(q, [1, Hq, Sq, D]), k: Tensor.from(k, [1, 1, Sk, D]) };
}

describe('select', () => {
  it('the Quest bound is at least every q·k of its block', () => {
    const g = new Gen(1650);
    for (let c = 0; c < 20; c++) {
      const D = g.pick([4, 16, 33]);
      const bs = g.pick([8, 64]);
      const Sk = g.int(1, 300);
      const q = Tensor.randn([1, 2, 1, D], { seed: g.int(0, 1e9) });
      const k = Tensor.randn([1, 1, Sk, D], { seed: g.int(0, 1e9) });
      const rope = g.bool() ? { base: 1000 } : undefined;
      const p = problemOf(q, k, { select: { blocks: 1, blockSize: bs }, rope });
      const bounds = keyBlockBounds(p);
      const qf = q.toFloat32();
      const kf = k.toFloat32();
      for (let kb = 0; kb < bounds.numBlocks; kb++) {
        for (let j = kb * bs; j < Math.min(Sk, (kb + 1) * bs); j++) {
          if (rope) continue; // rotation: checked through selection below
          for (let h = 0; h < 2; h++) {
            let dot = 0;
            for (let d = 0; d < D; d++) dot += qf[h * D + d] * kf[j * D + d];
            expect(questBound(qf, h * D, bounds, 0, 0, kb)).toBeGreaterThanOrEqual(dot - 1e-5);
          }
        }
      }
    }
  });

  it('the native scorer selects exactly what the TypeScript one does (odd head dims, ties, NaN keys)', () => {
    const native = loadNative();
    const g = new Gen(1656);
    for (let c = 0; c < 40; c++) {
      const D = g.pick([1, 5, 8, 13, 64, 100]);
      const bs = g.pick([4, 16, 64]);
      const Sk = g.int(1, 600);
      const Hkv = g.int(1, 2);
      const Hq = Hkv * g.int(1, 3);
      const Sq = g.int(1, 40);
      // coarse values make exact ties common
      const coarse = g.bool();
      const mk = (shape: number[]) => {
        const t = Tensor.randn(shape, { seed: g.int(0, 1e9) });
        if (coarse) (t.data as Float32Array).forEach((x, i, a) => (a[i] = Math.round(x)));
        return t;
      };
      const q = mk([1, Hq, Sq, D]);
      const k = mk([1, Hkv, Sk, D]);
      if (g.bool(0.2)) (k.data as Float32Array)[g.int(0, Sk * D * Hkv - 1)] = NaN;
      const p = problemOf(q, k, { pattern: g.pick(['causal', 'full', 'causal & sliding(300)']), select: { blocks: g.int(1, 6), blockSize: bs } });
      const bounds = keyBlockBounds(p);
      const ts = selectBlocks(p, bounds, null);
      const nat = selectBlocks(p, bounds, native);
      expect([...nat.rowPtr], `case ${c}`).toEqual([...ts.rowPtr]);
      expect([...nat.blocks], `case ${c}`).toEqual([...ts.blocks]);
    }
  });

  it('selects the planted blocks and the diagonal block', () => {
    const relevant = [3, 11, 25];
    const { q, k } = plantedBlocks(40, 64, 32, relevant, 1651);
    const sel = selectBlocks(problemOf(q, k, { causal: true, select: { blocks: 3 } }));
    expect(rowOf(sel, 0, 0, 0)).toEqual([...relevant, 39]);
  });

  it('stays within the pattern and keeps its diagonal block', () => {
    const g = new Gen(1652);
    for (let c = 0; c < 10; c++) {
      const { q, k } = plantedBlocks(30, 32, 16, [2, 20, 27], g.int(0, 1e9), 2, g.int(1, 70));
      const pattern = g.pick(['causal & sliding(200)', 'causal & sliding(100) | sink(4)', 'causal', 'block(256)']);
      const blocks = g.int(1, 4);
      const sel = selectBlocks(problemOf(q, k, { pattern, select: { blocks, blockSize: 32 } }));
      const pat = toPattern(pattern);
      const Sq = q.shape[2];
      const Sk = k.shape[2];
      for (let qb = 0; qb < sel.numQBlocks; qb++) {
        const p0 = qb * 32 + Sk - Sq;
        const p1 = Math.min((qb + 1) * 32, Sq) + Sk - Sq - 1;
        const chosen = rowOf(sel, 0, 0, qb);
        const reachable = (kb: number) => {
          for (let p = p0; p <= p1; p++) for (let j = kb * 32; j < (kb + 1) * 32; j++) if (pat.allows(p, j, 0) || pat.allows(p, j, 1)) return true;
          return false;
        };
        for (const kb of chosen) expect(reachable(kb), `${pattern}: block ${kb} outside`).toBe(true);
        const diagonal = Math.floor(p1 / 32);
        if (reachable(diagonal)) expect(chosen).toContain(diagonal);
        const nonDiagonal = chosen.filter((kb) => !(kb * 32 <= p1 && (kb + 1) * 32 > p0));
        expect(nonDiagonal.length).toBeLessThanOrEqual(blocks);
      }
    }
  });

  for (const backend of ['reference', 'cpu', 'wasm'] as const) {
    it(`${backend}: attention over the selection is exact (random shapes, GQA, batch, block sizes, dtypes)`, () => {
      const g = new Gen(backend === 'cpu' ? 1653 : 1654);
      for (let c = 0; c < 16; c++) {
        const dtype = g.pick<DType>(['float32', 'float16', 'bfloat16']);
        const B = g.int(1, 2);
        const Hkv = g.int(1, 2);
        const Hq = Hkv * g.int(1, 2);
        const Sk = g.int(1, 400);
        const Sq = g.int(1, Math.min(Sk, 100));
        const D = 16;
        const bs = g.pick([16, 32, 64, 128]);
        const pattern = g.pick(['causal', 'causal & sliding(150)', 'full', 'streaming(4, 64)']);
        const q = Tensor.randn([B, Hq, Sq, D], { dtype, seed: g.int(0, 1e9) });
        const k = Tensor.randn([B, Hkv, Sk, D], { dtype, seed: g.int(0, 1e9) });
        const v = Tensor.randn([B, Hkv, Sk, D], { dtype, seed: g.int(0, 1e9) });
        const select = { blocks: g.int(1, 4), blockSize: bs };
        const got = attentionSync(q, k, v, { pattern, select, backend });
        const sel = selectBlocks(problemOf(q, k, { pattern, select }));
        for (let b = 0; b < B; b++) {
          const only = restricted(toPattern(pattern), sel, (h) => Math.floor(h / (Hq / Hkv)), Sk - Sq, b);
          const want = attentionSync(q, k, v, { pattern: only, backend: 'reference' });
          const n = Hq * Sq * D;
          const err = relError(toBhsd(got).subarray(b * n, (b + 1) * n), toBhsd(want).subarray(b * n, (b + 1) * n));
          expect(err, `case ${c}: ${dtype} ${pattern} B=${B} Hq=${Hq} Hkv=${Hkv} Sq=${Sq} Sk=${Sk} bs=${bs}`).toBeLessThanOrEqual(TOLERANCE[dtype]);
        }
      }
    });
  }

  it('with at least as many blocks as the pattern reaches, select is full attention', () => {
    const q = Tensor.randn([1, 4, 5, 16], { seed: 1 });
    const k = Tensor.randn([1, 2, 300, 16], { seed: 2 });
    for (const backend of ['reference', 'cpu', 'wasm'] as const) {
      const a = attentionSync(q, k, k, { causal: true, select: { blocks: 5 }, backend });
      const b = attentionSync(q, k, k, { causal: true, backend });
      expect([...a.data]).toEqual([...b.data]);
    }
  });

  /** rows [s0, s1) of a [1, H, S, D] float32 tensor */
  function rows(t: Tensor, s0: number, s1: number): Tensor {
    const [, H, S, D] = t.shape;
    const out = Tensor.zeros([1, H, s1 - s0, D]);
    for (let h = 0; h < H; h++) out.data.set(t.data.subarray((h * S + s0) * D, (h * S + s1) * D), h * (s1 - s0) * D);
    return out;
  }

  it('over a KVCache that has evicted nothing, select equals select over all the keys', () => {
    const D = 16;
    const N = 300;
    const q = Tensor.randn([1, 2, N, D], { seed: 21 });
    const k = Tensor.randn([1, 1, N, D], { seed: 22 });
    const cache = new KVCache({ batch: 1, kvHeads: 1, headDim: D, budget: N, policy: 'window', blockSize: 32, maxChunk: 64 });
    const select = { blocks: 2, blockSize: 32 };
    for (let at = 0; at < N; ) {
      const n = at < 128 ? 32 : 1;
      const got = cache.attentionSync(rows(q, at, at + n), rows(k, at, at + n), rows(k, at, at + n), { select, backend: 'reference' });
      const want = attentionSync(rows(q, at, at + n), rows(k, 0, at + n), rows(k, 0, at + n), { causal: true, select, backend: 'reference' });
      expect(relError(toBhsd(got), toBhsd(want)), `after ${at + n}`).toBeLessThanOrEqual(1e-6);
      at += n;
    }
  });

  it('over an evicting KVCache: the incrementally kept bounds equal bounds computed afresh', () => {
    for (const policy of ['window', 'h2o'] as const) {
      const D = 16;
      const N = 400;
      const cache = new KVCache({ batch: 1, kvHeads: 1, headDim: D, budget: 150, policy, blockSize: 32, maxChunk: 40 });
      const q = Tensor.randn([1, 2, N, D], { seed: 23 });
      const k = Tensor.randn([1, 1, N, D], { seed: 24 });
      for (let at = 0; at < N; ) {
        const n = at < 100 ? 25 : 1;
        cache.attentionSync(rows(q, at, at + n), rows(k, at, at + n), rows(k, at, at + n), { select: { blocks: 2, blockSize: 32 }, backend: 'reference' });
        at += n;
      }
      const internals = cache as unknown as { bounds: { current(): ReturnType<typeof keyBlockBounds> }; store: { k: Float32Array; pos: Int32Array; capacity: number } };
      const cur = internals.bounds.current();
      const cap = internals.store.capacity;
      const kStore = Tensor.from(internals.store.k, [1, 1, cap, D]);
      const plan = planAttention(Tensor.zeros([1, 2, 1, D]), kStore, kStore, { keyPositions: internals.store.pos, select: { blocks: 2, blockSize: 32 } });
      const fresh = keyBlockBounds({ q: operandView(plan.q), k: operandView(plan.k), pattern: plan.pattern, rope: null, positions: plan.positions, blocks: 2, blockSize: 32 });
      expect([...cur.count], policy).toEqual([...fresh.count]);
      for (let kb = 0; kb < cur.numBlocks; kb++) {
        if (cur.count[kb] === 0) continue;
        expect([...cur.min.subarray(kb * D, (kb + 1) * D)]).toEqual([...fresh.min.subarray(kb * D, (kb + 1) * D)]);
        expect([...cur.max.subarray(kb * D, (kb + 1) * D)]).toEqual([...fresh.max.subarray(kb * D, (kb + 1) * D)]);
        expect(cur.minPos[kb]).toBe(fresh.minPos[kb]);
        expect(cur.maxPos[kb]).toBe(fresh.maxPos[kb]);
      }
    }
  });

  it('bad input names the option', () => {
    const t = Tensor.randn([1, 1, 4, 8], { seed: 1 });
    expect(() => attentionSync(t, t, t, { select: { blocks: 0 } })).toThrow(/options\.select\.blocks must be ≥ 1/);
    expect(() => attentionSync(t, t, t, { select: 3 as never })).toThrow(/options\.select must be an object/);
    expect(() => attentionSync(t, t, t, { select: { blocks: 2, size: 4 } as never })).toThrow(/options\.select\.size is not an option/);
    expect(() => attentionSync(t, t, t, { select: { blocks: 2, blockSize: 0 } })).toThrow(/options\.select\.blockSize must be ≥ 1/);
    const cache = new KVCache({ batch: 1, kvHeads: 1, headDim: 8, budget: 8, policy: 'window' });
    expect(() => cache.attentionSync(t, t, t, { select: { blocks: 1, blockSize: 32 } })).toThrow(/options\.select\.blockSize must be the cache's blockSize \(64\)/);
  });
});
