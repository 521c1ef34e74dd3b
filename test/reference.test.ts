/**
 * The reference backend: the float64 oracle (checked against hand-computed values) and the
 * float32 FlashAttention-2 model (checked against the oracle on many shapes and options).
 */
import { describe, expect, it } from 'vitest';
import { type DType, encode16 } from '../lib/dtypes.js';
import { TileClass, type Pattern } from '../lib/patterns/pattern.js';
import {
  alibiSlopes,
  applyRope,
  attentionOracle,
  attentionTiled,
  ropeInvFreq,
  type AttentionProblem,
  type OperandView,
  type ResolvedRope,
} from '../lib/reference/index.js';
import { Rng } from '../lib/rng.js';

// ---------------------------------------------------------------------------------------------
// Local test patterns (the real pattern library is tested elsewhere; these only need `allows`).

function pattern(name: string, allows: (p: number, j: number, h: number) => boolean, headPeriod = 1): Pattern {
  return {
    toString: () => name,
    allows,
    classify: () => TileClass.Partial,
    headPeriod,
  };
}

const full = pattern('full', () => true);
const causal = pattern('causal', (p, j) => j <= p);
const window = (left: number, right: number): Pattern =>
  pattern(`window(${left}, ${right})`, (p, j) => p - left <= j && j <= p + right);
/** causal, but every query whose position is 1 mod 3 sees nothing */
const holes = pattern('holes', (p, j) => j <= p && ((p % 3) + 3) % 3 !== 1);
/** even heads: causal; odd heads: window(3, 0) plus the first key */
const perHead = pattern('perHead', (p, j, h) => (h % 2 === 0 ? j <= p : (p - 3 <= j && j <= p) || j === 0), 2);
/** no key anywhere */
const none = pattern('none', () => false);

// ---------------------------------------------------------------------------------------------
// Problem construction.

type Layout = 'bhsd' | 'bshd' | 'padded';

interface Config {
  B?: number;
  Hq?: number;
  Hkv?: number;
  Sq: number;
  Sk: number;
  D: number;
  Dv?: number;
  dtype?: DType;
  layout?: Layout;
  pattern?: Pattern;
  scale?: number;
  softcap?: number;
  alibi?: boolean;
  rope?: ResolvedRope | null;
  seed?: number;
}

/** Random normal values (never zeros) in logical bhsd order. */
function randomValues(rng: Rng, n: number, amp = 1): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * rng.normal();
  return x;
}

/** Stores logical bhsd values into a view of the requested dtype and layout. */
function makeView(vals: ArrayLike<number>, B: number, H: number, S: number, D: number, dtype: DType, layout: Layout): OperandView {
  let strides: [number, number, number, number];
  let offset = 0;
  let size: number;
  if (layout === 'bhsd') {
    strides = [H * S * D, S * D, D, 1];
    size = B * H * S * D;
  } else if (layout === 'bshd') {
    strides = [S * H * D, D, H * D, 1];
    size = B * H * S * D;
  } else {
    // bhsd with padded rows, padded heads and a leading offset
    const row = D + 3;
    strides = [H * (S * row + 5), S * row + 5, row, 1];
    offset = 7;
    size = offset + B * strides[0];
  }
  const flat = new Float64Array(size).fill(Number.NaN); // padding is poison: it must never be read
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++)
        for (let d = 0; d < D; d++)
          flat[offset + b * strides[0] + h * strides[1] + s * strides[2] + d * strides[3]] = vals[((b * H + h) * S + s) * D + d];
  const data = dtype === 'float32' ? Float32Array.from(flat) : encode16(flat, dtype);
  return { data, dtype, batch: B, heads: H, seq: S, headDim: D, strides, offset };
}

interface Made {
  problem: AttentionProblem;
  qv: Float64Array;
  kv: Float64Array;
  vv: Float64Array;
}

function makeProblem(c: Config): Made {
  const B = c.B ?? 1;
  const Hq = c.Hq ?? 2;
  const Hkv = c.Hkv ?? Hq;
  const Dv = c.Dv ?? c.D;
  const dtype = c.dtype ?? 'float32';
  const layout = c.layout ?? 'bhsd';
  const rng = new Rng(c.seed ?? 1234);
  const qv = randomValues(rng, B * Hq * c.Sq * c.D);
  const kv = randomValues(rng, B * Hkv * c.Sk * c.D);
  const vv = randomValues(rng, B * Hkv * c.Sk * Dv);
  return {
    qv,
    kv,
    vv,
    problem: {
      q: makeView(qv, B, Hq, c.Sq, c.D, dtype, layout),
      k: makeView(kv, B, Hkv, c.Sk, c.D, dtype, layout),
      v: makeView(vv, B, Hkv, c.Sk, Dv, dtype, layout),
      pattern: c.pattern ?? full,
      scale: c.scale ?? 1 / Math.sqrt(c.D),
      softcap: c.softcap ?? 0,
      alibiSlopes: c.alibi ? alibiSlopes(Hq) : null,
      rope: c.rope ?? null,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

function relFrobenius(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (x[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}

function expectNoNaN(a: ArrayLike<number>): void {
  let nan = 0;
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) nan++;
  expect(nan).toBe(0);
}

/** lse: the −Infinity entries must coincide exactly; the finite ones are compared like out. */
function lseError(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  const xs: number[] = [];
  const rs: number[] = [];
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] === -Infinity) {
      expect(x[i]).toBe(-Infinity);
      continue;
    }
    expect(Number.isFinite(x[i])).toBe(true);
    xs.push(x[i]);
    rs.push(ref[i]);
  }
  return relFrobenius(xs, rs);
}

/** Rows (in bhsd order) whose lse is −Infinity must have an all-zero output. */
function expectEmptyRowsZero(out: ArrayLike<number>, lse: ArrayLike<number>, Dv: number): number {
  let empty = 0;
  for (let r = 0; r < lse.length; r++) {
    if (lse[r] !== -Infinity) continue;
    empty++;
    for (let d = 0; d < Dv; d++) expect(out[r * Dv + d]).toBe(0);
  }
  return empty;
}

function compareTiled(m: Made, blocks: { blockQ?: number; blockK?: number }, tol = 1e-5): void {
  const ref = attentionOracle(m.problem);
  const got = attentionTiled(m.problem, blocks);
  const Dv = m.problem.v.headDim;
  expect(got.out).toBeInstanceOf(Float32Array);
  expect(got.lse).toBeInstanceOf(Float32Array);
  expect(got.out.length).toBe(ref.out.length);
  expect(got.lse.length).toBe(ref.lse.length);
  expectNoNaN(ref.out);
  expectNoNaN(ref.lse);
  expectNoNaN(got.out);
  expectNoNaN(got.lse);
  expect(relFrobenius(got.out, ref.out)).toBeLessThanOrEqual(tol);
  expect(lseError(got.lse, ref.lse)).toBeLessThanOrEqual(tol);
  expectEmptyRowsZero(ref.out, ref.lse, Dv);
  expectEmptyRowsZero(got.out, got.lse, Dv);
}

const rope = (style: 'half' | 'interleaved', dims: number, offset = 0, base = 10000): ResolvedRope => ({ base, style, offset, dims });

// ---------------------------------------------------------------------------------------------

describe('alibiSlopes', () => {
  it('H = 8 gives 1/2, 1/4, …, 1/256', () => {
    expect(Array.from(alibiSlopes(8))).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
  });
  it('is 2^(−8h/H) with h 1-based for other H', () => {
    const s = alibiSlopes(12);
    expect(s.length).toBe(12);
    for (let h = 0; h < 12; h++) expect(s[h]).toBeCloseTo(2 ** ((-8 * (h + 1)) / 12), 15);
    expect(Array.from(alibiSlopes(1))).toEqual([2 ** -8]);
  });
  it('rejects a non-positive head count', () => {
    expect(() => alibiSlopes(0)).toThrow(RangeError);
    expect(() => alibiSlopes(2.5)).toThrow(RangeError);
  });
});

describe('rope helpers', () => {
  it('ropeInvFreq is base^(−2t/dims)', () => {
    const f = ropeInvFreq(rope('half', 4, 0, 10000), 8);
    expect(Array.from(f)).toEqual([1, 10000 ** -0.5]);
    expect(() => ropeInvFreq(rope('half', 3), 8)).toThrow(RangeError);
    expect(() => ropeInvFreq(rope('half', 10), 8)).toThrow(RangeError);
  });

  it("'half' rotates (x[t], x[t + dims/2]) and passes the rest through", () => {
    const r = rope('half', 4, 2, 100); // freqs 1, 0.1; position 3 + offset 2 = 5
    const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
    applyRope(x, 3, r, ropeInvFreq(r, 6));
    const a0 = 5;
    const a1 = 0.5;
    const want = [
      1 * Math.cos(a0) - 3 * Math.sin(a0),
      2 * Math.cos(a1) - 4 * Math.sin(a1),
      1 * Math.sin(a0) + 3 * Math.cos(a0),
      2 * Math.sin(a1) + 4 * Math.cos(a1),
      5,
      6,
    ];
    for (let i = 0; i < 6; i++) expect(x[i]).toBeCloseTo(want[i], 14);
  });

  it("'interleaved' rotates (x[2t], x[2t + 1]) and passes the rest through", () => {
    const r = rope('interleaved', 4, 0, 100);
    const x = Float64Array.from([1, 2, 3, 4, 5, 6, 7]);
    applyRope(x, 5, r, ropeInvFreq(r, 7 + 1)); // headDim only bounds dims
    const a0 = 5;
    const a1 = 0.5;
    const want = [
      1 * Math.cos(a0) - 2 * Math.sin(a0),
      1 * Math.sin(a0) + 2 * Math.cos(a0),
      3 * Math.cos(a1) - 4 * Math.sin(a1),
      3 * Math.sin(a1) + 4 * Math.cos(a1),
      5,
      6,
      7,
    ];
    for (let i = 0; i < 7; i++) expect(x[i]).toBeCloseTo(want[i], 14);
  });

  it('rotates a row inside a larger buffer at `start`', () => {
    const r = rope('half', 2, 0, 10000);
    const buf = Float32Array.from([9, 9, 1, 0, 9]);
    applyRope(buf, 1, r, ropeInvFreq(r, 2), 2);
    expect(Array.from(buf)).toEqual([9, 9, Math.fround(Math.cos(1)), Math.fround(Math.sin(1)), 9]);
  });
});

describe('attentionOracle against hand-computed values', () => {
  // Sq = 2, Sk = 3, D = 2, one head, scale 1.
  const q = [1, 0, 0, 1];
  const k = [1, 0, 0, 1, 1, 1];
  const v = [1, 2, 3, 4, 5, 6];
  const view = (vals: number[], S: number): OperandView => makeView(vals, 1, 1, S, 2, 'float32', 'bhsd');
  const base = (over: Partial<AttentionProblem>): AttentionProblem => ({
    q: view(q, 2),
    k: view(k, 3),
    v: view(v, 3),
    pattern: full,
    scale: 1,
    softcap: 0,
    alibiSlopes: null,
    rope: null,
    ...over,
  });
  const E = Math.E;
  /** softmax-weighted sum of v rows with the given (key, score) list */
  const direct = (terms: [number, number][]): { out: number[]; lse: number } => {
    let sum = 0;
    const out = [0, 0];
    for (const [j, s] of terms) {
      const w = Math.exp(s);
      sum += w;
      out[0] += w * v[2 * j];
      out[1] += w * v[2 * j + 1];
    }
    return { out: [out[0] / sum, out[1] / sum], lse: Math.log(sum) };
  };
  const expectRows = (res: { out: Float64Array; lse: Float64Array }, rows: { out: number[]; lse: number }[]): void => {
    rows.forEach((r, i) => {
      expect(res.out[2 * i]).toBeCloseTo(r.out[0], 13);
      expect(res.out[2 * i + 1]).toBeCloseTo(r.out[1], 13);
      expect(res.lse[i]).toBeCloseTo(r.lse, 13);
    });
  };

  it('full pattern', () => {
    // Row 0: scores q0·k = [1, 0, 1]; row 1: [0, 1, 1].
    const res = attentionOracle(base({}));
    expect(res.out[0]).toBeCloseTo((E * 1 + 3 + E * 5) / (2 * E + 1), 14);
    expect(res.out[1]).toBeCloseTo((E * 2 + 4 + E * 6) / (2 * E + 1), 14);
    expect(res.lse[0]).toBeCloseTo(Math.log(2 * E + 1), 14);
    expect(res.out[2]).toBeCloseTo((1 + E * 3 + E * 5) / (1 + 2 * E), 14);
    expect(res.out[3]).toBeCloseTo((2 + E * 4 + E * 6) / (1 + 2 * E), 14);
    expect(res.lse[1]).toBeCloseTo(Math.log(1 + 2 * E), 14);
  });

  it('causal with bottom-right alignment (query 0 at position 1)', () => {
    const res = attentionOracle(base({ pattern: causal }));
    expect(res.out[0]).toBeCloseTo((E * 1 + 3) / (E + 1), 14);
    expect(res.out[1]).toBeCloseTo((E * 2 + 4) / (E + 1), 14);
    expect(res.lse[0]).toBeCloseTo(Math.log(E + 1), 14);
    expectRows(res, [direct([[0, 1], [1, 0]]), direct([[0, 0], [1, 1], [2, 1]])]);
  });

  it('scale, softcap and ALiBi in that order', () => {
    const scale = 2;
    const cap = 1.5;
    const slopes = Float64Array.from([0.25]);
    const res = attentionOracle(base({ scale, softcap: cap, alibiSlopes: slopes }));
    const s = (dot: number, pos: number, j: number): number => cap * Math.tanh((scale * dot) / cap) - 0.25 * Math.abs(pos - j);
    expectRows(res, [
      direct([[0, s(1, 1, 0)], [1, s(0, 1, 1)], [2, s(1, 1, 2)]]),
      direct([[0, s(0, 2, 0)], [1, s(1, 2, 1)], [2, s(1, 2, 2)]]),
    ]);
  });

  it('RoPE: unit vectors at positions p and j score cos(p − j)', () => {
    // q = (1, 0), k = (1, 0) everywhere; dims = 2 so the only frequency is 1.
    const ones = (S: number): OperandView => view(Array.from({ length: 2 * S }, (_, i) => (i % 2 === 0 ? 1 : 0)), S);
    for (const style of ['half', 'interleaved'] as const) {
      const res = attentionOracle(base({ q: ones(2), k: ones(3), rope: rope(style, 2, 5) }));
      expectRows(res, [0, 1].map((i) => direct([0, 1, 2].map((j) => [j, Math.cos(i + 1 - j)] as [number, number]))));
    }
  });

  it('an empty neighborhood gives zeros and lse −Infinity', () => {
    const res = attentionOracle(base({ pattern: window(0, 0), q: view(q, 2), k: view(k.slice(0, 2), 1), v: view(v.slice(0, 2), 1) }));
    // Sk = 1, Sq = 2: query 0 sits at position −1, query 1 at 0.
    expect(res.lse[0]).toBe(-Infinity);
    expect(Array.from(res.out.subarray(0, 2))).toEqual([0, 0]);
    expect(res.lse[1]).toBeCloseTo(0 + 0, 14); // one key, score 0 (q1·k0 = 0): lse = log 1
    expect(Array.from(res.out.subarray(2, 4))).toEqual([1, 2]);
  });

  it('GQA equals MHA with the kv heads repeated', () => {
    const m = makeProblem({ Hq: 4, Hkv: 2, Sq: 6, Sk: 9, D: 4, pattern: causal });
    const rep = (vals: Float64Array, S: number, D: number): Float64Array => {
      const r = new Float64Array(4 * S * D);
      for (let h = 0; h < 4; h++) r.set(vals.subarray(Math.floor(h / 2) * S * D, (Math.floor(h / 2) + 1) * S * D), h * S * D);
      return r;
    };
    const mha: AttentionProblem = {
      ...m.problem,
      k: makeView(rep(m.kv, 9, 4), 1, 4, 9, 4, 'float32', 'bhsd'),
      v: makeView(rep(m.vv, 9, 4), 1, 4, 9, 4, 'float32', 'bhsd'),
    };
    const a = attentionOracle(m.problem);
    const b = attentionOracle(mha);
    expect(Array.from(a.out)).toEqual(Array.from(b.out));
    expect(Array.from(a.lse)).toEqual(Array.from(b.lse));
  });

  it('reads 16-bit storage exactly: float16/bfloat16 bits give the same result as their float32 values', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const m = makeProblem({ Sq: 5, Sk: 7, D: 8, dtype, layout: 'bshd', pattern: causal });
      // Decode the stored bits independently of lib/dtypes.ts.
      const widen = (x: OperandView): OperandView => {
        const bits = x.data as Uint16Array;
        const dec = new Float32Array(bits.length);
        const u32 = new Uint32Array(dec.buffer);
        for (let i = 0; i < bits.length; i++) {
          if (dtype === 'float16') dec[i] = half(bits[i]);
          else u32[i] = bits[i] << 16;
        }
        return { ...x, data: dec, dtype: 'float32' };
      };
      const a = attentionOracle(m.problem);
      const b = attentionOracle({ ...m.problem, q: widen(m.problem.q), k: widen(m.problem.k), v: widen(m.problem.v) });
      expect(Array.from(a.out)).toEqual(Array.from(b.out));
      expect(Array.from(a.lse)).toEqual(Array.from(b.lse));
    }
  });

  it('head-dependent patterns are evaluated per head', () => {
    const m = makeProblem({ Hq: 2, Sq: 8, Sk: 8, D: 4, pattern: perHead });
    const both = attentionOracle(m.problem);
    const odd = attentionOracle({ ...m.problem, pattern: pattern('odd', (p, j) => (p - 3 <= j && j <= p) || j === 0) });
    const even = attentionOracle({ ...m.problem, pattern: causal });
    const n = 8 * 4;
    expect(Array.from(both.out.subarray(0, n))).toEqual(Array.from(even.out.subarray(0, n)));
    expect(Array.from(both.out.subarray(n))).toEqual(Array.from(odd.out.subarray(n)));
  });
});

/** Independent float16 decoder (by formula, not through lib/dtypes.ts). */
function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

describe('attentionTiled against the oracle (rel. Frobenius ≤ 1e-5)', () => {
  interface Case extends Config {
    name: string;
    blocks: { blockQ?: number; blockK?: number }[];
  }
  const BLOCKS = [{ blockQ: 1, blockK: 1 }, { blockQ: 7, blockK: 16 }, { blockQ: 16, blockK: 7 }, {}, { blockQ: 128, blockK: 128 }];
  const cases: Case[] = [
    { name: 'Sq = Sk, full', Sq: 37, Sk: 37, D: 8, blocks: BLOCKS },
    { name: 'Sq = Sk, causal', Sq: 37, Sk: 37, D: 8, pattern: causal, blocks: BLOCKS },
    { name: 'Sq < Sk, causal (bottom-right)', Sq: 13, Sk: 70, D: 8, pattern: causal, blocks: BLOCKS },
    { name: 'decode Sq = 1, causal', Sq: 1, Sk: 100, D: 16, Hq: 4, Hkv: 2, pattern: causal, blocks: BLOCKS },
    { name: 'decode Sq = 1, window', Sq: 1, Sk: 100, D: 16, pattern: window(9, 0), blocks: BLOCKS },
    { name: 'Sq > Sk, causal (negative positions, empty rows)', Sq: 50, Sk: 20, D: 8, pattern: causal, blocks: BLOCKS },
    { name: 'window(5, 3)', Sq: 40, Sk: 40, D: 8, pattern: window(5, 3), blocks: BLOCKS },
    { name: 'rows left empty', Sq: 30, Sk: 30, D: 8, pattern: holes, blocks: BLOCKS },
    { name: 'head-dependent pattern', Hq: 4, Sq: 30, Sk: 33, D: 8, pattern: perHead, blocks: BLOCKS },
    { name: 'GQA 2', Hq: 4, Hkv: 2, Sq: 20, Sk: 25, D: 8, pattern: causal, blocks: [{ blockQ: 8, blockK: 8 }, {}] },
    { name: 'GQA 4', Hq: 8, Hkv: 2, Sq: 20, Sk: 25, D: 8, pattern: causal, blocks: [{ blockQ: 8, blockK: 8 }, {}] },
    { name: 'MQA', Hq: 6, Hkv: 1, Sq: 20, Sk: 25, D: 8, pattern: causal, blocks: [{ blockQ: 8, blockK: 8 }, {}] },
    { name: 'batch 3', B: 3, Hq: 2, Hkv: 1, Sq: 11, Sk: 19, D: 8, pattern: causal, blocks: [{ blockQ: 4, blockK: 5 }, {}] },
    { name: 'head dim 1', Sq: 33, Sk: 33, D: 1, pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }, {}] },
    { name: 'head dim 64', Sq: 70, Sk: 70, D: 64, pattern: causal, blocks: [{ blockQ: 16, blockK: 32 }, {}] },
    { name: 'head dim 80', Sq: 70, Sk: 90, D: 80, pattern: causal, blocks: [{ blockQ: 32, blockK: 16 }, {}] },
    { name: 'v head dim ≠ qk head dim', Sq: 20, Sk: 30, D: 16, Dv: 24, pattern: causal, blocks: [{ blockQ: 8, blockK: 8 }] },
    { name: 'scale 0.3', Sq: 40, Sk: 40, D: 8, scale: 0.3, pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }] },
    { name: 'large scale (peaked softmax)', Sq: 40, Sk: 40, D: 8, scale: 4, pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }] },
    { name: 'softcap', Sq: 40, Sk: 50, D: 16, scale: 2, softcap: 3, pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }, {}] },
    { name: 'alibi', Hq: 4, Sq: 40, Sk: 50, D: 16, alibi: true, pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }, {}] },
    { name: 'alibi, full, GQA', Hq: 4, Hkv: 2, Sq: 40, Sk: 50, D: 16, alibi: true, blocks: [{ blockQ: 16, blockK: 16 }] },
    { name: 'rope half, offset, dims < headDim', Sq: 40, Sk: 50, D: 80, rope: rope('half', 32, 7), pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }, {}] },
    { name: 'rope interleaved, offset, dims < headDim', Sq: 40, Sk: 50, D: 8, rope: rope('interleaved', 6, 11), pattern: causal, blocks: [{ blockQ: 16, blockK: 16 }, {}] },
    { name: 'rope half, full dims, base 500', Sq: 30, Sk: 30, D: 16, rope: rope('half', 16, 0, 500), blocks: [{ blockQ: 16, blockK: 16 }] },
    {
      name: 'everything at once',
      B: 2, Hq: 4, Hkv: 2, Sq: 23, Sk: 41, D: 12, scale: 0.7, softcap: 4, alibi: true,
      rope: rope('interleaved', 8, 3), pattern: holes, blocks: [{ blockQ: 5, blockK: 9 }, {}],
    },
  ];
  const variants: { dtype: DType; layout: Layout }[] = [
    { dtype: 'float32', layout: 'bhsd' },
    { dtype: 'float32', layout: 'bshd' },
    { dtype: 'float16', layout: 'bshd' },
    { dtype: 'bfloat16', layout: 'bhsd' },
    { dtype: 'float32', layout: 'padded' },
  ];
  for (const c of cases) {
    for (const vnt of variants) {
      it(`${c.name} [${vnt.dtype}, ${vnt.layout}]`, () => {
        const m = makeProblem({ ...c, ...vnt, seed: 17 + c.Sq * 31 + c.Sk });
        for (const blocks of c.blocks) compareTiled(m, blocks);
      });
    }
  }

  it('B = 1, H = 4, S = 256, D = 64, causal, default tiles', () => {
    const m = makeProblem({ Hq: 4, Sq: 256, Sk: 256, D: 64, pattern: causal, seed: 99 });
    compareTiled(m, {});
  });
});

describe('empty rows and NaN', () => {
  it('Sq > Sk under causal: the first Sq − Sk queries have negative positions and see nothing', () => {
    const Sq = 24;
    const Sk = 10;
    const m = makeProblem({ Hq: 2, Sq, Sk, D: 8, pattern: causal });
    for (const res of [attentionOracle(m.problem), attentionTiled(m.problem, { blockQ: 5, blockK: 3 })]) {
      expectNoNaN(res.out);
      expectNoNaN(res.lse);
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < Sq; i++) {
          const row = h * Sq + i;
          if (i < Sq - Sk) {
            expect(res.lse[row]).toBe(-Infinity);
            for (let d = 0; d < 8; d++) expect(res.out[row * 8 + d]).toBe(0);
          } else {
            expect(Number.isFinite(res.lse[row])).toBe(true);
          }
        }
      }
    }
  });

  it('a pattern allowing nothing gives all zeros and all −Infinity', () => {
    const m = makeProblem({ Hq: 2, Sq: 9, Sk: 9, D: 4, pattern: none });
    for (const res of [attentionOracle(m.problem), attentionTiled(m.problem, { blockQ: 4, blockK: 4 })]) {
      expect(res.out.every((x) => x === 0)).toBe(true);
      expect(res.lse.every((x) => x === -Infinity)).toBe(true);
    }
  });

  it('a row that sees keys only in a late tile has no NaN (m = −∞ before)', () => {
    // window(0, 0) with Sq < Sk: query i sees only key pos(i); every earlier key tile of its row is empty.
    const m = makeProblem({ Sq: 10, Sk: 50, D: 8, pattern: window(0, 0) });
    const ref = attentionOracle(m.problem);
    const got = attentionTiled(m.problem, { blockQ: 3, blockK: 4 });
    expectNoNaN(got.out);
    expectNoNaN(got.lse);
    expect(relFrobenius(got.out, ref.out)).toBeLessThanOrEqual(1e-6);
  });

  it('holes pattern leaves exactly the rows at positions ≡ 1 (mod 3) empty', () => {
    const m = makeProblem({ Hq: 1, Sq: 12, Sk: 12, D: 4, pattern: holes });
    const got = attentionTiled(m.problem, { blockQ: 5, blockK: 5 });
    const empty = expectEmptyRowsZero(got.out, got.lse, 4);
    expect(empty).toBe(4);
    for (let i = 0; i < 12; i++) expect(got.lse[i] === -Infinity).toBe(i % 3 === 1);
  });
});

describe('layouts and tiles', () => {
  it('bhsd, bshd and padded storage of the same values give identical results', () => {
    const results = (['bhsd', 'bshd', 'padded'] as const).map((layout) => {
      const m = makeProblem({ B: 2, Hq: 4, Hkv: 2, Sq: 13, Sk: 21, D: 8, layout, pattern: causal, rope: rope('half', 8, 2), seed: 5 });
      return { o: attentionOracle(m.problem), t: attentionTiled(m.problem, { blockQ: 4, blockK: 8 }) };
    });
    for (const r of results.slice(1)) {
      expect(Array.from(r.o.out)).toEqual(Array.from(results[0].o.out));
      expect(Array.from(r.t.out)).toEqual(Array.from(results[0].t.out));
      expect(Array.from(r.t.lse)).toEqual(Array.from(results[0].t.lse));
    }
  });

  it('rejects bad tile sizes and inconsistent problems', () => {
    const m = makeProblem({ Hq: 4, Hkv: 2, Sq: 4, Sk: 4, D: 4 });
    expect(() => attentionTiled(m.problem, { blockQ: 0 })).toThrow(RangeError);
    expect(() => attentionTiled(m.problem, { blockK: 2.5 })).toThrow(RangeError);
    const bad = makeProblem({ Hq: 3, Sq: 4, Sk: 4, D: 4 });
    expect(() => attentionOracle({ ...m.problem, k: bad.problem.k, v: bad.problem.v })).toThrow(RangeError);
    expect(() => attentionOracle({ ...m.problem, alibiSlopes: alibiSlopes(2) })).toThrow(RangeError);
    expect(() => attentionOracle({ ...m.problem, rope: rope('half', 6) })).toThrow(RangeError);
    const short: OperandView = { ...m.problem.q, data: new Float32Array(10) };
    expect(() => attentionTiled({ ...m.problem, q: short })).toThrow(RangeError);
  });
});

describe('RoPE relative-position property', () => {
  it('shifting every position by the offset leaves the result unchanged (causal, full rope)', () => {
    for (const style of ['half', 'interleaved'] as const) {
      const m = makeProblem({ Hq: 2, Sq: 24, Sk: 40, D: 16, pattern: causal, seed: 77 });
      const p0 = { ...m.problem, rope: rope(style, 16, 0) };
      const p17 = { ...m.problem, rope: rope(style, 16, 17) };
      const o0 = attentionOracle(p0);
      const o17 = attentionOracle(p17);
      expect(relFrobenius(o17.out, o0.out)).toBeLessThanOrEqual(1e-12);
      expect(relFrobenius(o17.lse, o0.lse)).toBeLessThanOrEqual(1e-12);
      const t0 = attentionTiled(p0, { blockQ: 8, blockK: 16 });
      const t17 = attentionTiled(p17, { blockQ: 8, blockK: 16 });
      expect(relFrobenius(t17.out, o0.out)).toBeLessThanOrEqual(1e-5);
      expect(relFrobenius(t0.out, o0.out)).toBeLessThanOrEqual(1e-5);
      // and RoPE does change the result (the check above is not vacuous)
      expect(relFrobenius(attentionOracle(m.problem).out, o0.out)).toBeGreaterThan(1e-3);
    }
  });
});
