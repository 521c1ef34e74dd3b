/**
 * NaN and ±Infinity in q, k and v. No crash, outputs of the right shape, and attention heads
 * whose inputs are all finite come out exactly as the oracle says (heads are independent).
 *
 * Within a head every backend follows IEEE evaluation of the naive formula
 * out = softmax(scale·q·kᵀ over the row's neighborhood)·v, as the float64 oracle does:
 *  - a key the row does not attend never affects it, whatever k and v hold there (also when it
 *    sits in a tile the row visits: the CPU kernel once multiplied masked probabilities, 0, by a
 *    NaN v: 0·NaN = NaN);
 *  - a NaN score (NaN in q or in an attended k) makes the row NaN, out and lse (the CPU kernel's
 *    max / exp once dropped NaN scores, and a NaN q row came out as an empty row everywhere);
 *  - a +Infinity score gives exp(∞ − ∞) = NaN: an infinite q row is NaN (the CPU kernel once
 *    returned it as an empty row), lse NaN as in the oracle;
 *  - a −Infinity score has weight 0; a row whose allowed scores are all −Infinity has Σ exp = 0
 *    and is reported like an empty row (zeros, lse −Infinity), so that merging key shards stays
 *    exact;
 *  - NaN / ±Infinity in an attended v reaches that row (elementwise, in the columns of v that hold
 *    it), also with a weight that underflows to 0;
 *  - rows with no allowed key stay zeros with lse −Infinity.
 * Softcap maps a ±Infinity score to ±cap (tanh), which is finite: IEEE-correct too.
 */
import { describe, expect, it } from 'vitest';
import { attentionSync } from '../../lib/attention/run.js';
import { mergeAttention } from '../../lib/attention/merge.js';
import { toPattern } from '../../lib/patterns/index.js';
import { Tensor, type DType } from '../../lib/tensor.js';
import type { AttentionOptions } from '../../lib/attention/plan.js';
import { oracle, relError, toBhsd, TOLERANCE } from '../helpers/oracle.js';
import { cases, failureReport, Gen, suiteSeed } from './fuzz.js';
import { problem } from './gen.js';

const SEED = suiteSeed(0x4a4e);

/** Writes a non-finite value at a random element of the (b, h) slice of t; returns [b, h]. */
function inject(g: Gen, t: Tensor, value: number): [number, number] {
  const { batch: B, heads: H, seq: S, headDim: D, strides } = t.dims4();
  const b = g.int(0, B - 1);
  const h = g.int(0, H - 1);
  const s = g.int(0, S - 1);
  const d = g.int(0, D - 1);
  const at = b * strides[0] + h * strides[1] + s * strides[2] + d * strides[3];
  const data = t.data;
  if (data instanceof Float32Array) data[at] = value;
  else {
    const f16 = t.dtype === 'float16';
    data[at] = Number.isNaN(value) ? (f16 ? 0x7e00 : 0x7fc0) : value > 0 ? (f16 ? 0x7c00 : 0x7f80) : f16 ? 0xfc00 : 0xff80;
  }
  return [b, h];
}

describe('non-finite inputs', () => {
  it('never crash; heads whose inputs are all finite are exact', () => {
    const g = new Gen(SEED);
    const failures: string[] = [];
    for (let c = 0; c < cases(200); c++) {
      const p = problem(g, 70);
      const Hq = p.q.dims4().heads;
      const Hkv = p.k.dims4().heads;
      const tainted = new Set<string>(); // "b,hq" query heads that may see a non-finite input
      for (let n = g.int(1, 3); n > 0; n--) {
        const which = g.pick(['q', 'k', 'v'] as const);
        const [b, h] = inject(g, p[which], g.pick([NaN, Infinity, -Infinity]));
        if (which === 'q') tainted.add(`${b},${h}`);
        else for (let hq = 0; hq < Hq; hq++) if (Math.floor(hq / (Hq / Hkv)) === h) tainted.add(`${b},${hq}`);
      }
      const ref = oracle(p.q, p.k, p.v, p.options);
      for (const backend of ['cpu', 'reference'] as const) {
        const where = `case ${c} ${backend} (${p.desc}; tainted heads ${[...tainted].join(' ')})`;
        let out: Tensor;
        try {
          out = attentionSync(p.q, p.k, p.v, { ...p.options, backend, returnLse: false });
        } catch (e) {
          failures.push(`${where}: threw ${(e as Error).message}`);
          continue;
        }
        if (out.shape.join() !== p.q.shape.join()) failures.push(`${where}: output shape [${out.shape}]`);
        const got = toBhsd(out);
        const { batch: B, seq: S, headDim: D } = p.q.dims4();
        for (let b = 0; b < B; b++)
          for (let h = 0; h < Hq; h++) {
            if (tainted.has(`${b},${h}`)) continue;
            const lo = ((b * Hq + h) * S) * D;
            const err = relError(got.subarray(lo, lo + S * D), ref.out.subarray(lo, lo + S * D));
            if (!(err <= TOLERANCE[p.q.dtype])) failures.push(`${where}: clean head (${b}, ${h}) has relative error ${err}`);
          }
      }
    }
    expect(failures, failureReport(failures, SEED)).toEqual([]);
  });

  // A head of 8 positions, causal; one non-finite value at key / query 3.
  function single(where: 'q' | 'k' | 'v', value: number) {
    const shape = [1, 1, 8, 4];
    const q = Tensor.randn(shape, { seed: 1 });
    const k = Tensor.randn(shape, { seed: 2 });
    const v = Tensor.randn(shape, { seed: 3 });
    const t = { q, k, v }[where];
    (t.data as Float32Array)[3 * 4 + 1] = value;
    return { q, k, v };
  }

  /** rows of a [1, 1, 8, 4] output: 'F' finite, 'N' not */
  function rowPattern(out: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < 8; i++) s += Array.from({ length: 4 }, (_, d) => out[i * 4 + d]).every(Number.isFinite) ? 'F' : 'N';
    return s;
  }

  // Keys a row does not attend must not affect it: rows 0..2 stay clean when v[3] is NaN, though
  // the CPU kernel visits key 3 for them (one 64 × 64 tile).
  for (const backend of ['reference', 'cpu'] as const) {
    it(`${backend}: a NaN in v at key 3 does not reach causal rows 0..2`, () => {
      const { q, k, v } = single('v', NaN);
      expect(rowPattern(oracle(q, k, v, { causal: true }).out)).toBe('FFFNNNNN');
      expect(rowPattern(attentionSync(q, k, v, { causal: true, backend }).toFloat32())).toBe('FFFNNNNN');
    });
  }

  // A NaN score makes the rows that attend the key NaN (the rows before it do not attend it).
  it('a NaN in k at key 3 makes the rows attending it NaN (out and lse) on every backend, as in the oracle', () => {
    const { q, k, v } = single('k', NaN);
    const ref = rowPattern(oracle(q, k, v, { causal: true }).out);
    expect(ref).toBe('FFFNNNNN');
    for (const backend of ['cpu', 'reference'] as const) {
      const r = attentionSync(q, k, v, { causal: true, backend, returnLse: true });
      expect(rowPattern(r.out.toFloat32())).toBe(ref);
      expect(Array.from(r.lse.toFloat32()).map((x) => (Number.isNaN(x) ? 'N' : 'F')).join('')).toBe('FFFNNNNN');
    }
  });

  // +Infinity in q: the row's scores are ±Infinity (or NaN), max = +∞, exp(∞ − ∞) = NaN: a NaN
  // row, out and lse, on every backend and in the oracle (never an empty row).
  it('an infinite q row is NaN (out and lse) on every backend, as in the oracle', () => {
    const { q, k, v } = single('q', Infinity);
    expect(Number.isNaN(oracle(q, k, v, { causal: true }).lse[3])).toBe(true);
    for (const backend of ['cpu', 'reference'] as const) {
      const r = attentionSync(q, k, v, { causal: true, backend, returnLse: true });
      expect(Number.isNaN(r.lse.toFloat32()[3]), backend).toBe(true);
      expect(rowPattern(r.out.toFloat32()), backend).toBe('FFFNFFFF');
    }
  });

  // A NaN in q gives every score of the row NaN: the row is NaN (out and lse), as in PyTorch, on
  // every backend and in the oracle; the other rows are untouched.
  it('a NaN q row comes out NaN (out and lse) on every backend and in the oracle', () => {
    const { q, k, v } = single('q', NaN);
    const ref = oracle(q, k, v, { causal: true });
    expect(Number.isNaN(ref.lse[3])).toBe(true);
    expect(rowPattern(ref.out)).toBe('FFFNFFFF');
    for (const backend of ['cpu', 'reference'] as const) {
      const r = attentionSync(q, k, v, { causal: true, backend, returnLse: true });
      expect(Number.isNaN(r.lse.toFloat32()[3]), backend).toBe(true);
      expect(Array.from(r.out.toFloat32().slice(12, 16)).every(Number.isNaN), backend).toBe(true);
      expect(rowPattern(r.out.toFloat32()), backend).toBe('FFFNFFFF');
    }
  });

  // Empty rows stay empty whatever the row's q holds (no key is read).
  it('a NaN q row with no allowed key stays an empty row (zeros, lse −Infinity)', () => {
    const { q, k, v } = single('q', NaN);
    const options: AttentionOptions = { pattern: 'causal - window(0)' }; // row 3 attends keys 0..2; row 0 none
    (q.data as Float32Array)[0] = NaN;
    const ref = oracle(q, k, v, options);
    expect(ref.lse[0]).toBe(-Infinity);
    for (const backend of ['cpu', 'reference'] as const) {
      const r = attentionSync(q, k, v, { ...options, backend, returnLse: true });
      expect(r.lse.toFloat32()[0], backend).toBe(-Infinity);
      expect(Array.from(r.out.toFloat32().slice(0, 4)), backend).toEqual([0, 0, 0, 0]);
      expect(Number.isNaN(r.lse.toFloat32()[3]), backend).toBe(true);
    }
  });

  // Only −Infinity scores (q[i][0] = −∞, every k[j][0] > 0): Σ exp = 0, reported as an empty row.
  it('a row whose allowed scores are all −Infinity is reported as an empty row on every backend and in the oracle', () => {
    const { q, k, v } = single('q', -Infinity);
    const kd = k.data as Float32Array;
    for (let j = 0; j < 8; j++) kd[j * 4 + 1] = 1 + (j % 3);
    expect(oracle(q, k, v, { causal: true }).lse[3]).toBe(-Infinity);
    for (const backend of ['cpu', 'reference'] as const) {
      const r = attentionSync(q, k, v, { causal: true, backend, returnLse: true });
      expect(r.lse.toFloat32()[3], backend).toBe(-Infinity);
      expect(Array.from(r.out.toFloat32().slice(12, 16)), backend).toEqual([0, 0, 0, 0]);
    }
  });
});

/** Writes value at (b, h, s, d) of t (a bhsd or bshd tensor of any dtype). */
function setAt(t: Tensor, b: number, h: number, s: number, d: number, value: number): void {
  const { strides } = t.dims4();
  const at = b * strides[0] + h * strides[1] + s * strides[2] + d * strides[3];
  if (t.data instanceof Float32Array) {
    t.data[at] = value;
    return;
  }
  const f16 = t.dtype === 'float16';
  t.data[at] = Number.isNaN(value) ? (f16 ? 0x7e00 : 0x7fc0) : value > 0 ? (f16 ? 0x7c00 : 0x7f80) : f16 ? 0xfc00 : 0xff80;
}

/**
 * Runs cpu and reference on one head (B = Hq = Hkv = 1) with one non-finite value at (seq s,
 * dim 1) of q, k or v, and checks both against the oracle: the same elements non-finite, the
 * finite ones within the dtype's tolerance, lse NaN / −Infinity in the same rows. Returns the
 * rows the oracle makes non-finite, for the caller to check against the rows that attend.
 */
function againstOracle(
  where: 'q' | 'k' | 'v',
  s: number,
  value: number,
  o: { sq: number; sk: number; d?: number; dtype: DType; options: AttentionOptions },
): Set<number> {
  const D = o.d ?? 64;
  const mk = (n: number, seed: number) => Tensor.randn([1, 1, n, D], { dtype: o.dtype, seed });
  const t = { q: mk(o.sq, 11), k: mk(o.sk, 12), v: mk(o.sk, 13) };
  setAt(t[where], 0, 0, s, 1, value);
  const ref = oracle(t.q, t.k, t.v, o.options);
  const bad = new Set<number>();
  for (let i = 0; i < o.sq; i++) for (let d = 0; d < D; d++) if (!Number.isFinite(ref.out[i * D + d])) bad.add(i);
  for (const backend of ['cpu', 'reference'] as const) {
    const r = attentionSync(t.q, t.k, t.v, { ...o.options, backend, returnLse: true });
    const got = toBhsd(r.out);
    const lse = r.lse.toFloat32();
    const finiteGot: number[] = [];
    const finiteRef: number[] = [];
    for (let x = 0; x < got.length; x++) {
      const fg = Number.isFinite(got[x]);
      expect(fg, `${backend} ${o.dtype}: element ${x} (row ${Math.floor(x / D)}) finite ${fg}, oracle ${ref.out[x]}`).toBe(Number.isFinite(ref.out[x]));
      if (fg) {
        finiteGot.push(got[x]);
        finiteRef.push(ref.out[x]);
      }
    }
    expect(relError(finiteGot, finiteRef), `${backend} ${o.dtype}`).toBeLessThanOrEqual(TOLERANCE[o.dtype]);
    for (let i = 0; i < o.sq; i++) {
      const y = ref.lse[i];
      if (Number.isNaN(y)) expect(lse[i], `${backend} ${o.dtype} lse[${i}]`).toBeNaN();
      else if (y === -Infinity) expect(lse[i], `${backend} ${o.dtype} lse[${i}]`).toBe(-Infinity);
      else expect(Math.abs(lse[i] - y), `${backend} ${o.dtype} lse[${i}]`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(y)));
    }
  }
  return bad;
}

/** Query rows that attend key j under the pattern (query i sits at position i + sk − sq). */
function attending(pattern: string, sq: number, sk: number, j: number): Set<number> {
  const p = toPattern(pattern);
  const rows = new Set<number>();
  for (let i = 0; i < sq; i++) if (p.allows(i + sk - sq, j, 0)) rows.add(i);
  return rows;
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

describe('non-finite values at keys a row does not attend (partial tiles), every dtype', () => {
  const DTYPES: DType[] = ['float32', 'float16', 'bfloat16'];

  // causal & sliding(40), 200 positions: key 150 is attended by rows 150..189; rows 128..149 share
  // the 64 × 64 tiles (query tile 128..191 × key tile 128..191, partial) but must stay finite.
  for (const dtype of DTYPES) {
    const pattern = 'causal & sliding(40)';
    const rows = attending(pattern, 200, 200, 150);
    it(`sliding window, ${dtype}: a NaN in v at key 150 reaches exactly the rows attending it`, () => {
      expect(rows.has(149)).toBe(false);
      expect(rows.has(150)).toBe(true);
      for (const value of [NaN, Infinity]) {
        const bad = againstOracle('v', 150, value, { sq: 200, sk: 200, dtype, options: { pattern } });
        expect(sorted(bad)).toEqual(sorted(rows));
      }
    });
    it(`sliding window, ${dtype}: a NaN in k at key 150 makes exactly the rows attending it NaN`, () => {
      const bad = againstOracle('k', 150, NaN, { sq: 200, sk: 200, dtype, options: { pattern } });
      expect(sorted(bad)).toEqual(sorted(rows));
    });
    it(`sliding window with softcap and ALiBi, ${dtype}: NaN in k reaches exactly the attending rows, +Infinity in k stays finite (tanh)`, () => {
      const options: AttentionOptions = { pattern, softcap: 5, alibi: true };
      expect(sorted(againstOracle('k', 150, NaN, { sq: 200, sk: 200, dtype, options }))).toEqual(sorted(rows));
      expect(sorted(againstOracle('k', 150, Infinity, { sq: 200, sk: 200, dtype, options }))).toEqual([]);
    });
  }

  // Decoding: seqQ 1..4 against 5000 keys, causal & sliding(300). The CPU backend splits the key
  // tiles of so few rows across its threads and merges the parts through their lse (split-KV;
  // whenever it runs ≥ 2 threads). Key sk − sq − 299 is attended by row 0 only, in a partial
  // tile every row visits; key sk − sq − 300 by none (in the same tile).
  for (const dtype of DTYPES) {
    const pattern = 'causal & sliding(300)';
    const sk = 5000;
    it(`decode (seqQ 1..4, seqK ${sk}), ${dtype}: NaN in v / k at a key only row 0 attends reaches row 0 only`, () => {
      for (let sq = 1; sq <= 4; sq++) {
        const j = sk - sq - 299;
        expect(sorted(attending(pattern, sq, sk, j))).toEqual([0]);
        expect(sorted(againstOracle('v', j, NaN, { sq, sk, dtype, options: { pattern } }))).toEqual([0]);
        expect(sorted(againstOracle('k', j, NaN, { sq, sk, dtype, options: { pattern } }))).toEqual([0]);
      }
    });
    it(`decode (seqQ 1..4, seqK ${sk}), ${dtype}: NaN in v / k at a key no row attends changes nothing`, () => {
      for (let sq = 1; sq <= 4; sq++) {
        const j = sk - sq - 300;
        expect(attending(pattern, sq, sk, j).size).toBe(0);
        expect(sorted(againstOracle('v', j, NaN, { sq, sk, dtype, options: { pattern } }))).toEqual([]);
        expect(sorted(againstOracle('k', j, NaN, { sq, sk, dtype, options: { pattern } }))).toEqual([]);
        expect(sorted(againstOracle('v', j, -Infinity, { sq, sk, dtype, options: { pattern } }))).toEqual([]);
      }
    });
    it(`decode (seqQ 1..4, seqK ${sk}, causal), ${dtype}: NaN in v at the last key reaches the last row only; NaN in q is that row's alone`, () => {
      for (let sq = 1; sq <= 4; sq++) {
        expect(sorted(againstOracle('v', sk - 1, NaN, { sq, sk, dtype, options: { causal: true } }))).toEqual([sq - 1]);
        expect(sorted(againstOracle('q', sq - 1, NaN, { sq, sk, dtype, options: { causal: true } }))).toEqual([sq - 1]);
      }
    });
  }
});

describe('mergeAttention with non-finite parts', () => {
  /** keys [from, to) of a [1, 1, S, D] float32 tensor */
  const keys = (t: Tensor, from: number, to: number) => {
    const D = t.shape[3];
    return Tensor.from((t.data as Float32Array).slice(from * D, to * D), [1, 1, to - from, D]);
  };

  it('a part whose row is NaN makes the merged row NaN; an empty part (lse −Infinity) adds nothing, whatever its out holds', () => {
    const D = 8;
    const q = Tensor.randn([1, 1, 4, D], { seed: 21 });
    const k = Tensor.randn([1, 1, 40, D], { seed: 22 });
    const v = Tensor.randn([1, 1, 40, D], { seed: 23 });
    (k.data as Float32Array)[30 * D + 2] = NaN; // key 30: every row attends it (full pattern)
    const whole = attentionSync(q, k, v, { backend: 'cpu', returnLse: true });
    const a = attentionSync(q, keys(k, 0, 20), keys(v, 0, 20), { backend: 'cpu', returnLse: true });
    const b = attentionSync(q, keys(k, 20, 40), keys(v, 20, 40), { backend: 'cpu', returnLse: true });
    expect(Array.from(a.lse.toFloat32()).every(Number.isFinite)).toBe(true);
    expect(Array.from(b.lse.toFloat32()).every(Number.isNaN)).toBe(true);
    const m = mergeAttention([a, b]);
    expect(Array.from(m.out.toFloat32()).every(Number.isNaN)).toBe(true);
    expect(Array.from(m.lse.toFloat32()).every(Number.isNaN)).toBe(true);
    expect(Array.from(whole.out.toFloat32()).every(Number.isNaN)).toBe(true);

    // an empty part whose out holds NaN (junk): it has lse −Infinity, so it is not read
    const junk = { out: Tensor.from(new Float32Array(4 * D).fill(NaN), [1, 1, 4, D]), lse: Tensor.from(new Float32Array(4).fill(-Infinity), [1, 1, 4]) };
    const clean = mergeAttention([a, junk]);
    expect(relError(clean.out.toFloat32(), a.out.toFloat32())).toBeLessThanOrEqual(1e-7);
    expect(relError(clean.lse.toFloat32(), a.lse.toFloat32())).toBeLessThanOrEqual(1e-7);
    const none = mergeAttention([junk, junk]);
    expect(Array.from(none.out.toFloat32())).toEqual(new Array(4 * D).fill(0));
    expect(Array.from(none.lse.toFloat32())).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
  });

  it('key shards merged give the same non-finite rows as one pass (causal, NaN in k or v, cpu and reference)', () => {
    const D = 8;
    const S = 40;
    for (const where of ['k', 'v'] as const) {
      const q = Tensor.randn([1, 1, S, D], { seed: 31 });
      const k = Tensor.randn([1, 1, S, D], { seed: 32 });
      const v = Tensor.randn([1, 1, S, D], { seed: 33 });
      ({ k, v }[where].data as Float32Array)[25 * D + 3] = NaN; // key 25: attended by rows 25..39
      for (const backend of ['cpu', 'reference'] as const) {
        const whole = attentionSync(q, k, v, { causal: true, backend, returnLse: true });
        // keys < 20 and keys ≥ 20 (rows 0..19 see nothing of the second part: empty rows there)
        const a = attentionSync(q, k, v, { pattern: 'causal & sink(20)', backend, returnLse: true });
        const b = attentionSync(q, k, v, { pattern: 'causal - sink(20)', backend, returnLse: true });
        const m = mergeAttention([a, b]);
        const rows = (out: Tensor) => {
          const f = out.toFloat32();
          return Array.from({ length: S }, (_, i) => (f.subarray(i * D, i * D + D).every(Number.isFinite) ? 'F' : 'N')).join('');
        };
        const want = 'F'.repeat(25) + 'N'.repeat(15);
        expect(rows(whole.out), `${where} ${backend}`).toBe(want);
        expect(rows(m.out), `${where} ${backend}`).toBe(want);
        const mf: number[] = [];
        const wf: number[] = [];
        const mo = m.out.toFloat32();
        const wo = whole.out.toFloat32();
        for (let x = 0; x < 25 * D; x++) {
          mf.push(mo[x]);
          wf.push(wo[x]);
        }
        expect(relError(mf, wf), `${where} ${backend}`).toBeLessThanOrEqual(1e-6);
        const ml = m.lse.toFloat32();
        const wl = whole.lse.toFloat32();
        for (let i = 0; i < S; i++) {
          if (where === 'k' && i >= 25) expect(ml[i], `${where} ${backend} lse ${i}`).toBeNaN();
          else expect(Math.abs(ml[i] - wl[i]), `${where} ${backend} lse ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(wl[i])));
        }
      }
    }
  });
});
