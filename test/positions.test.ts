/**
 * Attention over keys at explicit positions (keyPositions / queryPositions), the alignment option
 * and the run-time BlockMask builder: every backend against an independent brute force on true
 * positions, with random patterns; top-left alignment against PyTorch's is_causal definition.
 */
import { describe, expect, it } from 'vitest';
import { attentionSync } from '../lib/attention/run.js';
import { compileMask } from '../lib/mask/index.js';
import { buildRuntimeMask } from '../lib/mask/runtime.js';
import { toPattern } from '../lib/patterns/index.js';
import { TileClass, type Pattern } from '../lib/patterns/pattern.js';
import { keyPosition, resolvePositions } from '../lib/positions.js';
import { Tensor, type DType } from '../lib/tensor.js';
import { bruteAttention } from './helpers/brute.js';
import { expandMask } from './helpers/blockmask.js';
import { TOLERANCE, relError, toBhsd } from './helpers/oracle.js';
import { Gen } from './reliability/fuzz.js';
import { patternString } from './reliability/gen.js';

const BACKENDS = ['reference', 'cpu', 'wasm'] as const;

/** An output tensor like `like`, filled with NaN (a backend that skips a row cannot pass). */
function poisoned(like: Tensor): Tensor {
  const t = Tensor.zeros(like.shape, { dtype: like.dtype, layout: like.layout });
  (t.data as Float32Array | Uint16Array).fill(like.dtype === 'float32' ? NaN : 0x7e00);
  return t;
}

/** Sorted distinct positions in [0, span), `n` of them, or with gaps and empty slots shuffled in. */
function keyPositions(g: Gen, n: number, span: number, shuffled: boolean, empties: number): Int32Array {
  const all = g.shuffle(Array.from({ length: span }, (_, i) => i)).slice(0, n - empties);
  all.sort((a, b) => a - b);
  const list = [...all, ...Array.from({ length: empties }, () => -1)];
  return Int32Array.from(shuffled ? g.shuffle(list) : list);
}

function randn(g: Gen, shape: number[], dtype: DType): Tensor {
  return Tensor.randn(shape, { dtype, seed: g.int(0, 1e9) });
}

describe('run-time BlockMask for explicit positions', () => {
  it('equals the pattern evaluated on the true positions, for random patterns and positions', () => {
    const g = new Gen(1601);
    for (let c = 0; c < 120; c++) {
      const pat = toPattern(patternString(g, 100));
      const Hkv = g.int(1, 3);
      const Hq = Hkv * g.int(1, 2);
      const seqK = g.int(1, 150);
      const seqQ = g.int(1, 90);
      const blockQ = g.pick([16, 32, 64]);
      const blockK = g.pick([16, 32, 64]);
      const span = seqK + g.int(0, 200);
      const perHead = g.bool();
      const kp = new Int32Array(perHead ? Hkv * seqK : seqK);
      for (let h = 0; h < (perHead ? Hkv : 1); h++) kp.set(keyPositions(g, seqK, span, g.bool(), g.int(0, Math.min(5, seqK))), h * seqK);
      const o: Record<string, unknown> = { keyPositions: kp };
      if (g.bool(0.3)) o.queryPositions = Int32Array.from({ length: seqQ }, () => g.int(0, span + 10));
      else if (g.bool(0.3)) o.alignment = 'top-left';
      const positions = resolvePositions(o, seqQ, Hkv, seqK);
      const m = buildRuntimeMask(pat, { seqQ, seqK, heads: Hq, kvHeads: Hkv, blockQ, blockK, positions });
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / (Hq / Hkv));
        const got = expandMask(m, h, Hq);
        for (let i = 0; i < seqQ; i++) {
          const p = positions.queryPositions ? positions.queryPositions[i] : positions.queryStart + i;
          for (let j = 0; j < seqK; j++) {
            const k = keyPosition(positions, hk, j, seqK);
            const want = k >= 0 && pat.allows(p, k, h) ? 1 : 0;
            if (got[i * seqK + j] !== want) throw new Error(`case ${c} ${pat} head ${h} i=${i} j=${j}: mask ${got[i * seqK + j]}, pattern ${want}`);
          }
        }
      }
    }
  });

  it('with positions 0..seqK−1 and bottom-right queries it equals the compiled mask', () => {
    const g = new Gen(1602);
    for (let c = 0; c < 60; c++) {
      const pat = toPattern(patternString(g, 120));
      const seqK = g.int(1, 200);
      const seqQ = g.int(1, 130);
      const positions = resolvePositions({ keyPositions: Int32Array.from({ length: seqK }, (_, j) => j) }, seqQ, 1, seqK);
      expect(positions.queryStart).toBe(seqK - seqQ);
      const heads = Math.max(1, pat.headPeriod);
      const rt = buildRuntimeMask(pat, { seqQ, seqK, heads, kvHeads: 1, blockQ: 64, blockK: 64, positions });
      const cm = compileMask(pat, { seqQ, seqK, heads, blockQ: 64, blockK: 64 });
      for (let h = 0; h < heads; h++) expect(Buffer.from(expandMask(rt, h)).equals(Buffer.from(expandMask(cm, h))), `${pat} head ${h}`).toBe(true);
    }
  });

  it('visits only the key blocks the pattern reaches when positions ascend (sliding window over a long cache)', () => {
    const seqK = 64 * 400;
    const kp = Int32Array.from({ length: seqK }, (_, j) => 3 * j); // every third position kept
    const positions = resolvePositions({ keyPositions: kp }, 1, 1, seqK);
    const m = buildRuntimeMask(toPattern('causal & sliding(300)'), { seqQ: 1, seqK, heads: 1, kvHeads: 1, blockQ: 64, blockK: 64, positions });
    expect(m.colIdx.length).toBe(2); // positions p−299..p hold 100 keys: the last two key blocks
    expect([...m.colIdx]).toEqual([398, 399]);
  });
});

describe('attention over explicit key positions', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: matches the brute force on true positions (random patterns, GQA, empty slots, spread keys, query positions, all dtypes)`, () => {
      const g = new Gen(backend === 'cpu' ? 1603 : 1604);
      for (let c = 0; c < (backend === 'reference' ? 20 : 40); c++) {
        const dtype = g.pick<DType>(['float32', 'float16', 'bfloat16']);
        const pat = toPattern(patternString(g, 150));
        const B = g.int(1, 2);
        const Hkv = g.int(1, 2);
        const Hq = Hkv * g.int(1, 3);
        const Sk = g.int(1, 140);
        const Sq = g.int(1, 70);
        const D = g.pick([8, 16, 24]);
        // now and then keys spread over a long sequence (a cache that kept few of many): RoPE
        // tables of one row per position instead of a dense range
        const span = g.bool(0.2) ? 60 * Sk + 500 : Sk + g.int(0, 150);
        const kp = new Int32Array(Hkv * Sk);
        for (let h = 0; h < Hkv; h++) kp.set(keyPositions(g, Sk, span, g.bool(), g.int(0, Math.min(4, Sk))), h * Sk);
        const q = randn(g, [B, Hq, Sq, D], dtype);
        const k = randn(g, [B, Hkv, Sk, D], dtype);
        const v = randn(g, [B, Hkv, Sk, D], dtype);
        const extras = g.int(0, 2); // 1: RoPE, 2: ALiBi, on the true positions
        const rope = extras === 1 ? { base: 10000, style: g.pick(['half', 'interleaved'] as const), offset: g.int(0, 5), dims: D } : undefined;
        const alibi = extras === 2 ? Float32Array.from({ length: Hq }, () => g.int(1, 8) / 16) : undefined;
        const topLeft = g.bool(0.25);
        // or explicit query positions (anywhere in the span, in any order)
        const qp = !topLeft && g.bool(0.25) ? Int32Array.from({ length: Sq }, () => g.int(0, span + 10)) : undefined;
        const options = { pattern: pat, keyPositions: kp, queryPositions: qp, backend, rope, alibi, alignment: topLeft ? ('top-left' as const) : undefined };
        const res = attentionSync(q, k, v, { ...options, returnLse: true, out: poisoned(q) });
        let maxPos = -1;
        for (const x of kp) maxPos = Math.max(maxPos, x);
        const start = topLeft ? 0 : maxPos + 1 - Sq;
        const want = bruteAttention(q, k, v, {
          pattern: pat,
          qpos: (i) => (qp ? qp[i] : start + i),
          kpos: (hk, j) => kp[hk * Sk + j],
          alibi,
          rope: rope ? { ...rope } : undefined,
        });
        const err = relError(toBhsd(res.out), want.out);
        expect(err, `case ${c}: ${dtype} ${pat} B=${B} Hq=${Hq} Hkv=${Hkv} Sq=${Sq} Sk=${Sk} extras=${extras}`).toBeLessThanOrEqual(TOLERANCE[dtype]);
        const lse = res.lse.toFloat32();
        for (let r = 0; r < lse.length; r++) {
          if (want.lse[r] === -Infinity) expect(lse[r]).toBe(-Infinity);
          else expect(Math.abs(lse[r] - want.lse[r])).toBeLessThan(1e-3 * Math.max(1, Math.abs(want.lse[r])));
        }
      }
    });
  }

  it('keys at explicit positions equal the same keys placed in a longer sequence whose other keys are masked', () => {
    // independent of the positions code: the default geometry with a user-defined pattern that
    // hides every position not kept
    const g = new Gen(1605);
    for (let c = 0; c < 20; c++) {
      const base = toPattern(patternString(g, 120));
      const Sk = g.int(1, 100);
      const span = Sk + g.int(0, 120);
      const kp = keyPositions(g, Sk, span, false, 0);
      const L = kp[Sk - 1] + 1;
      const kept = new Set(kp);
      const hidden: Pattern = {
        toString: () => `hide(${base})`,
        allows: (p, j, h) => kept.has(j) && base.allows(p, j, h),
        classify: () => TileClass.Partial,
        headPeriod: base.headPeriod,
      };
      const D = 16;
      const Sq = g.int(1, Math.min(40, L));
      const q = randn(g, [1, 2, Sq, D], 'float32');
      const k = randn(g, [1, 1, Sk, D], 'float32');
      const v = randn(g, [1, 1, Sk, D], 'float32');
      const kd = k.toFloat32();
      const vd = v.toFloat32();
      const kFull = new Float32Array(L * D).map(() => g.normal());
      const vFull = new Float32Array(L * D).map(() => g.normal());
      for (let j = 0; j < Sk; j++) {
        kFull.set(kd.subarray(j * D, (j + 1) * D), kp[j] * D);
        vFull.set(vd.subarray(j * D, (j + 1) * D), kp[j] * D);
      }
      const rope = { base: 500, style: 'half' as const };
      const alibi = Float32Array.of(0.25, 0.125);
      for (const backend of BACKENDS) {
        const a = attentionSync(q, k, v, { pattern: base, keyPositions: kp, backend, rope, alibi });
        const b = attentionSync(q, Tensor.from(kFull, [1, 1, L, D]), Tensor.from(vFull, [1, 1, L, D]), { pattern: hidden, backend, rope, alibi });
        expect(relError(toBhsd(a), toBhsd(b)), `${base} Sk=${Sk} L=${L}`).toBeLessThanOrEqual(1e-5);
      }
    }
  });
});

describe("alignment 'top-left' (PyTorch SDPA is_causal)", () => {
  /** PyTorch: attn_mask = ones(L, S).tril(0); softmax(q kᵀ·scale + mask) v */
  function pytorchCausal(q: Tensor, k: Tensor, v: Tensor): Float64Array {
    const [B, H, L, D] = q.shape;
    const S = k.shape[2];
    const qf = q.toFloat32();
    const kf = k.toFloat32();
    const vf = v.toFloat32();
    const out = new Float64Array(B * H * L * D);
    for (let bh = 0; bh < B * H; bh++) {
      for (let i = 0; i < L; i++) {
        const s: number[] = [];
        for (let j = 0; j < S; j++) {
          if (j > i) {
            s.push(-Infinity);
            continue;
          }
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qf[(bh * L + i) * D + d] * kf[(bh * S + j) * D + d];
          s.push(dot / Math.sqrt(D));
        }
        const m = Math.max(...s);
        const w = s.map((x) => Math.exp(x - m));
        const z = w.reduce((a, b) => a + b, 0);
        for (let j = 0; j < S; j++) for (let d = 0; d < D; d++) out[(bh * L + i) * D + d] += (w[j] / z) * vf[(bh * S + j) * D + d];
      }
    }
    return out;
  }

  for (const backend of BACKENDS) {
    it(`${backend}: equals the tril-masked softmax for seqQ < seqK and seqQ > seqK`, () => {
      const g = new Gen(1606);
      for (const [L, S] of [[5, 37], [70, 130], [90, 20], [1, 1], [3, 200]]) {
        const q = randn(g, [2, 2, L, 16], 'float32');
        const k = randn(g, [2, 2, S, 16], 'float32');
        const v = randn(g, [2, 2, S, 16], 'float32');
        const got = attentionSync(q, k, v, { causal: true, alignment: 'top-left', backend });
        expect(relError(toBhsd(got), pytorchCausal(q, k, v)), `L=${L} S=${S}`).toBeLessThanOrEqual(1e-5);
        // bottom-right differs whenever seqQ ≠ seqK
        if (L !== S) {
          const br = attentionSync(q, k, v, { causal: true, backend });
          expect(relError(toBhsd(br), pytorchCausal(q, k, v))).toBeGreaterThan(1e-3);
        }
      }
    });
  }
});

describe('positions: bad input', () => {
  const q = Tensor.randn([1, 2, 4, 8], { seed: 1 });
  const k = Tensor.randn([1, 2, 6, 8], { seed: 2 });
  const v = Tensor.randn([1, 2, 6, 8], { seed: 3 });
  it('names the option and what was expected', () => {
    expect(() => attentionSync(q, k, v, { keyPositions: new Float32Array(6) as never })).toThrow(
      /options\.keyPositions must be an Int32Array/,
    );
    expect(() => attentionSync(q, k, v, { keyPositions: new Int32Array(5) })).toThrow(RangeError);
    expect(() => attentionSync(q, k, v, { keyPositions: new Int32Array(5) })).toThrow(/options\.keyPositions must hold seqK \(6\)/);
    expect(() => attentionSync(q, k, v, { alignment: 'left' as never })).toThrow(/options\.alignment must be 'bottom-right' or 'top-left'/);
    expect(() => attentionSync(q, k, v, { queryPositions: new Int32Array(3) })).toThrow(/options\.queryPositions must hold one position per query row \(4\)/);
    expect(() => attentionSync(q, k, v, { queryPositions: new Int32Array(4), alignment: 'top-left' })).toThrow(/exclude each other/);
  });
  it('does not modify the position arrays', () => {
    const kp = Int32Array.of(5, -7, 3, 9, 1, 0);
    const copy = Int32Array.from(kp);
    attentionSync(q, k, v, { keyPositions: kp, backend: 'reference' });
    expect([...kp]).toEqual([...copy]);
  });
});
