/**
 * linearAttention: the chunked algorithms (TypeScript reference and the native CPU kernel)
 * against the float64 recurrent oracle on random inputs — long sequences where decay matters,
 * chunk boundaries, lengths that are not a multiple of the chunk, every feature map and kind of
 * decay, GQA, both layouts, all dtypes — scanning in pieces with the state carried, and bad
 * inputs.
 */
import { describe, expect, it } from 'vitest';
import type { DType } from '../lib/dtypes.js';
import { linearAttention, linearAttentionSync, type LinearAttentionOptions } from '../lib/linear/run.js';
import { linearChunked, linearOracle } from '../lib/linear/reference.js';
import { planLinearAttention } from '../lib/linear/plan.js';
import { loadNative } from '../lib/native/load.js';
import { Rng } from '../lib/rng.js';
import { Tensor } from '../lib/tensor.js';
import { relError, toBhsd, TOLERANCE } from './helpers/oracle.js';

type Layout = 'bhsd' | 'bshd';
let seed = 77000;

interface Shape {
  b: number;
  hq: number;
  hkv: number;
  n: number;
  dk: number;
  dv: number;
  dtype?: DType;
  layout?: Layout;
}

function qkv(s: Shape, scale = 1): { q: Tensor; k: Tensor; v: Tensor } {
  const layout = s.layout ?? 'bhsd';
  const dtype = s.dtype ?? 'float32';
  const shape = (h: number, d: number) => (layout === 'bhsd' ? [s.b, h, s.n, d] : [s.b, s.n, h, d]);
  const make = (h: number, d: number, sc: number) => {
    const t = Tensor.randn(shape(h, d), { seed: seed++ });
    const f = t.toFloat32();
    for (let i = 0; i < f.length; i++) f[i] *= sc;
    return Tensor.fromFloat32(f, shape(h, d), { dtype, layout });
  };
  return { q: make(s.hq, s.dk, scale), k: make(s.hkv, s.dk, scale), v: make(s.hkv, s.dv, 1) };
}

/** Per-step gates in (lo, 1], shaped for the layout ([B,H,N] or [B,N,H], optional trailing Df). */
function gates(s: Shape, df: number | null, lo = 0.8, dtype: DType = 'float32'): Tensor {
  const rng = new Rng(seed++);
  const layout = s.layout ?? 'bhsd';
  const base = layout === 'bhsd' ? [s.b, s.hq, s.n] : [s.b, s.n, s.hq];
  const shape = df === null ? base : [...base, df];
  const size = shape.reduce((a, x) => a * x, 1);
  const vals = new Float32Array(size);
  for (let i = 0; i < size; i++) vals[i] = lo + (1 - lo) * rng.next() + 1e-7;
  for (let i = 0; i < size; i++) vals[i] = Math.min(1, vals[i]);
  return Tensor.fromFloat32(vals, shape, { dtype });
}

function oracleOf(q: Tensor, k: Tensor, v: Tensor, o: LinearAttentionOptions) {
  return linearOracle(planLinearAttention(q, k, v, o));
}

function state(B: number, H: number, df: number, dv: number, s = 0.3): { S: Tensor; z: Tensor } {
  const S = Tensor.randn([B, H, df, dv], { seed: seed++ });
  const z = Tensor.randn([B, H, df], { seed: seed++ });
  const zf = z.data as Float32Array;
  for (let i = 0; i < zf.length; i++) zf[i] = Math.abs(zf[i]) * s + 1; // a positive denominator
  const Sf = S.data as Float32Array;
  for (let i = 0; i < Sf.length; i++) Sf[i] *= s;
  return { S, z };
}

function checksum(t: Tensor): number {
  const f = t.toFloat32();
  let h = 0;
  for (let i = 0; i < f.length; i++) h = (h * 31 + (Number.isNaN(f[i]) ? 7 : f[i] * 1000)) % 1e9;
  return h;
}

const FEATURE_MAPS: LinearAttentionOptions['featureMap'][] = ['elu1', 'identity', 'relu', { favor: 48, seed: 3 }];

describe('linear attention: the oracle', () => {
  it('matches the quadratic form y_t = Σ_{s≤t} (Π γ) φ(q_t)·φ(k_s) v_s / Σ_{s≤t} (Π γ) φ(q_t)·φ(k_s)', () => {
    const s: Shape = { b: 1, hq: 2, hkv: 1, n: 23, dk: 5, dv: 3 };
    const { q, k, v } = qkv(s);
    const g = Math.fround(0.9); // per-head decays are float32, as every backend reads them
    const r = oracleOf(q, k, v, { decay: 0.9, eps: 0 });
    const Q = q.toFloat32(), K = k.toFloat32(), V = v.toFloat32();
    const phi = (x: number) => (x > 0 ? x + 1 : Math.exp(x));
    let maxErr = 0;
    for (let h = 0; h < 2; h++) {
      for (let t = 0; t < s.n; t++) {
        const num = new Float64Array(s.dv);
        let den = 0;
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let d = 0; d < s.dk; d++) dot += phi(Q[(h * s.n + t) * s.dk + d]) * phi(K[u * s.dk + d]);
          const w = g ** (t - u) * dot;
          den += w;
          for (let d = 0; d < s.dv; d++) num[d] += w * V[u * s.dv + d];
        }
        for (let d = 0; d < s.dv; d++) maxErr = Math.max(maxErr, Math.abs(num[d] / den - r.out[(h * s.n + t) * s.dv + d]));
      }
    }
    expect(maxErr).toBeLessThan(1e-12);
  });

  it('favor features approximate causal softmax attention', () => {
    const s: Shape = { b: 1, hq: 1, hkv: 1, n: 40, dk: 8, dv: 4 };
    const { q, k, v } = qkv(s, 0.5);
    const r = oracleOf(q, k, v, { featureMap: { favor: 8192, seed: 1 }, eps: 0 });
    const Q = q.toFloat32(), K = k.toFloat32(), V = v.toFloat32();
    const ref = new Float64Array(s.n * s.dv);
    for (let t = 0; t < s.n; t++) {
      const w: number[] = [];
      for (let u = 0; u <= t; u++) {
        let dot = 0;
        for (let d = 0; d < s.dk; d++) dot += Q[t * s.dk + d] * K[u * s.dk + d];
        w.push(Math.exp(dot / Math.sqrt(s.dk)));
      }
      const sum = w.reduce((a, x) => a + x, 0);
      for (let u = 0; u <= t; u++) for (let d = 0; d < s.dv; d++) ref[t * s.dv + d] += (w[u] / sum) * V[u * s.dv + d];
    }
    expect(relError(r.out, ref)).toBeLessThan(0.05);
  });
});

describe('linear attention: chunked TypeScript reference vs the oracle', () => {
  it('agrees for every feature map, decay kind and chunk size, at and around chunk boundaries', () => {
    const rng = new Rng(5);
    for (const n of [1, 7, 16, 17, 31, 32, 33, 100]) {
      for (const chunk of [1, 8, 16, 32]) {
        const fm = FEATURE_MAPS[rng.int(FEATURE_MAPS.length)];
        const s: Shape = { b: 2, hq: 2, hkv: 1, n, dk: 6, dv: 5 };
        const { q, k, v } = qkv(s);
        const df = typeof fm === 'object' ? fm.favor : s.dk;
        const decays = [undefined, 0.9, new Float32Array([0.7, 1]), gates(s, null), gates(s, df, 0.5)];
        const decay = decays[rng.int(decays.length)];
        const normalize = fm === 'identity' ? false : rng.int(2) === 0;
        const o: LinearAttentionOptions = { featureMap: fm, decay, normalize, initialState: rng.int(2) ? state(2, 2, df, 5) : undefined };
        const plan = planLinearAttention(q, k, v, o);
        const ref = linearOracle(plan);
        const got = linearChunked(plan, chunk);
        const err = relError(got.out, ref.out);
        expect(err, `n=${n} chunk=${chunk} ${JSON.stringify({ fm, normalize, decay: decay?.constructor.name })}`).toBeLessThanOrEqual(1e-5);
        expect(relError(got.S, ref.S)).toBeLessThanOrEqual(1e-5);
        expect(relError(got.z, ref.z)).toBeLessThanOrEqual(1e-5);
      }
    }
  });
});

function expectCpuMatches(q: Tensor, k: Tensor, v: Tensor, o: LinearAttentionOptions, bar = TOLERANCE[q.dtype]): number {
  const ref = oracleOf(q, k, v, o);
  const res = linearAttentionSync(q, k, v, { ...o, backend: 'cpu', returnState: true });
  const err = relError(toBhsd(res.out), ref.out);
  const desc = `${q.dtype} ${q.layout} [${q.shape}] ${JSON.stringify({ ...o, decay: o.decay?.constructor.name, initialState: !!o.initialState })}`;
  expect(err, `out error ${err} for ${desc}`).toBeLessThanOrEqual(bar);
  expect(relError(res.state.S.toFloat32(), ref.S), `S for ${desc}`).toBeLessThanOrEqual(bar);
  expect(relError(res.state.z.toFloat32(), ref.z), `z for ${desc}`).toBeLessThanOrEqual(bar);
  return err;
}

describe('linear attention: native CPU backend vs the oracle', () => {
  it('is registered by the addon', () => {
    const addon = loadNative() as unknown as Record<string, unknown>;
    expect(typeof addon.linearAttentionSync).toBe('function');
    expect(typeof addon.linearAttention).toBe('function');
  });

  it('agrees at chunk boundaries and lengths that are not a multiple of the chunk (64)', () => {
    for (const n of [1, 2, 63, 64, 65, 127, 128, 129, 200]) {
      const s: Shape = { b: 1, hq: 2, hkv: 2, n, dk: 16, dv: 16 };
      const { q, k, v } = qkv(s);
      expectCpuMatches(q, k, v, {});
      expectCpuMatches(q, k, v, { decay: gates(s, null, 0.6) });
      expectCpuMatches(q, k, v, { decay: gates(s, 16, 0.6) });
    }
  });

  it('agrees on long sequences where decay matters', () => {
    const s: Shape = { b: 1, hq: 2, hkv: 1, n: 3000, dk: 32, dv: 32 };
    const { q, k, v } = qkv(s);
    const none = linearAttentionSync(q, k, v, { backend: 'cpu' });
    const decayed = linearAttentionSync(q, k, v, { backend: 'cpu', decay: new Float32Array([0.95, 0.995]) });
    // decay changes the result substantially at this length ...
    expect(relError(toBhsd(decayed), toBhsd(none))).toBeGreaterThan(0.1);
    // ... and every variant still matches the oracle
    expectCpuMatches(q, k, v, {});
    expectCpuMatches(q, k, v, { decay: new Float32Array([0.95, 0.995]) });
    expectCpuMatches(q, k, v, { decay: gates(s, null, 0.9) });
    expectCpuMatches(q, k, v, { decay: gates(s, 32, 0.9) });
    expectCpuMatches(q, k, v, { decay: 0.999, normalize: false });
    // tiny gates: the state is forgotten almost at once; nothing overflows
    expectCpuMatches(q, k, v, { decay: gates(s, 32, 1e-30) });
    expectCpuMatches(q, k, v, { decay: gates(s, null, 1e-20) });
  });

  it('agrees on random shapes, dtypes, layouts, GQA ratios, feature maps and options', () => {
    const rng = new Rng(99);
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
    for (let trial = 0; trial < 40; trial++) {
      const hkv = pick([1, 2, 3]);
      const s: Shape = {
        b: pick([1, 2]),
        hkv,
        hq: hkv * pick([1, 2, 3]),
        n: 1 + rng.int(300),
        dk: pick([1, 3, 8, 16, 33, 64]),
        dv: pick([1, 5, 8, 16, 40, 64]),
        dtype: pick(['float32', 'float32', 'float16', 'bfloat16'] as const),
        layout: pick(['bhsd', 'bshd'] as const),
      };
      const fm = pick(FEATURE_MAPS);
      const df = typeof fm === 'object' ? fm.favor : s.dk;
      const { q, k, v } = qkv(s, fm === 'identity' ? 0.3 : 1);
      const headDecay = new Float32Array(s.hq).map(() => 0.5 + 0.5 * rng.next());
      const decay = pick([undefined, 0.97, headDecay, gates(s, null), gates(s, df, 0.7), gates(s, null, 0.8, 'bfloat16')]);
      const normalize = fm === 'identity' ? false : rng.int(4) !== 0;
      const o: LinearAttentionOptions = {
        featureMap: fm,
        decay,
        normalize,
        // eps 0 only with strictly positive features (relu can give 0/0, a NaN by definition)
        eps: fm === 'relu' ? pick([1e-6, 0.5]) : pick([1e-6, 0, 0.5]),
        initialState: rng.int(3) === 0 ? state(s.b, s.hq, df, s.dv) : undefined,
      };
      expectCpuMatches(q, k, v, o);
    }
  });

  it('reads mixed layouts through options.layout and returns q\'s layout', () => {
    const s: Shape = { b: 2, hq: 4, hkv: 2, n: 70, dk: 8, dv: 12, layout: 'bshd' };
    const { q, k, v } = qkv(s);
    const out = linearAttentionSync(q, k, v, { backend: 'cpu' });
    expect(out.layout).toBe('bshd');
    expect(out.shape).toEqual([2, 70, 4, 12]);
    expectCpuMatches(q, k, v, { decay: gates(s, 8) });
  });

  it('the async API gives the same result and keeps the event loop free', async () => {
    const s: Shape = { b: 1, hq: 4, hkv: 4, n: 500, dk: 32, dv: 32 };
    const { q, k, v } = qkv(s);
    const sync = linearAttentionSync(q, k, v, { decay: 0.98 });
    const asyncOut = await linearAttention(q, k, v, { decay: 0.98 });
    expect(Array.from(asyncOut.toFloat32())).toEqual(Array.from(sync.toFloat32()));
    const withState = await linearAttention(q, k, v, { returnState: true });
    expect(withState.state.S.shape).toEqual([1, 4, 32, 32]);
    expect(withState.state.z.shape).toEqual([1, 4, 32]);
  });

  it('the reference backend agrees with the native one', () => {
    const s: Shape = { b: 1, hq: 2, hkv: 1, n: 150, dk: 16, dv: 8, dtype: 'bfloat16' };
    const { q, k, v } = qkv(s);
    const o: LinearAttentionOptions = { decay: gates(s, 16), returnState: true };
    const a = linearAttentionSync(q, k, v, { ...o, backend: 'cpu', returnState: true });
    const b = linearAttentionSync(q, k, v, { ...o, backend: 'reference', returnState: true });
    expect(a.out.dtype).toBe('bfloat16');
    expect(relError(a.out.toFloat32(), b.out.toFloat32())).toBeLessThanOrEqual(1e-2);
    expect(relError(a.state.S.toFloat32(), b.state.S.toFloat32())).toBeLessThanOrEqual(1e-5);
  });
});

describe('linear attention: scanning in pieces', () => {
  for (const backend of ['cpu', 'reference'] as const) {
    it(`carrying the state through pieces equals one pass (${backend})`, () => {
      const rng = new Rng(backend === 'cpu' ? 1 : 2);
      for (const fm of FEATURE_MAPS) {
        const N = 301;
        const s: Shape = { b: 2, hq: 4, hkv: 2, n: N, dk: 12, dv: 10 };
        const { q, k, v } = qkv(s, fm === 'identity' ? 0.3 : 1);
        const df = typeof fm === 'object' ? fm.favor : s.dk;
        const g = gates(s, df, 0.7);
        const opts = { featureMap: fm, normalize: fm !== 'identity', decay: g, backend };
        const whole = linearAttentionSync(q, k, v, { ...opts, returnState: true });
        // cut at random points (including a piece of one step and pieces longer than a chunk)
        const cuts = [0, 1, 2, 66, 200, N].concat(rng.int(2) ? [] : [150]).sort((a, b) => a - b);
        const outs: Float64Array[] = [];
        let st: { S: Tensor; z: Tensor } | undefined;
        for (let i = 0; i + 1 < cuts.length; i++) {
          const [a, b] = [cuts[i], cuts[i + 1]];
          const slice = (t: Tensor, d: number) => {
            const f = t.toFloat32();
            const r = new Float32Array(s.b * t.shape[1] * (b - a) * d);
            const H = t.shape[1];
            for (let bb = 0; bb < s.b; bb++) for (let h = 0; h < H; h++) r.set(f.subarray(((bb * H + h) * N + a) * d, ((bb * H + h) * N + b) * d), ((bb * H + h) * (b - a)) * d);
            return Tensor.from(r, [s.b, H, b - a, d]);
          };
          const gf = g.toFloat32();
          const gs = new Float32Array(s.b * s.hq * (b - a) * df);
          for (let bb = 0; bb < s.b; bb++) for (let h = 0; h < s.hq; h++) gs.set(gf.subarray(((bb * s.hq + h) * N + a) * df, ((bb * s.hq + h) * N + b) * df), ((bb * s.hq + h) * (b - a)) * df);
          const res = linearAttentionSync(slice(q, s.dk), slice(k, s.dk), slice(v, s.dv), {
            ...opts,
            decay: Tensor.from(gs, [s.b, s.hq, b - a, df]),
            initialState: st,
            returnState: true,
          });
          outs.push(toBhsd(res.out));
          st = res.state;
        }
        // reassemble [B, H, N, Dv]
        const joined = new Float64Array(s.b * s.hq * N * s.dv);
        for (let i = 0; i + 1 < cuts.length; i++) {
          const [a, b] = [cuts[i], cuts[i + 1]];
          for (let bh = 0; bh < s.b * s.hq; bh++) for (let t = a; t < b; t++) for (let d = 0; d < s.dv; d++) joined[(bh * N + t) * s.dv + d] = outs[i][(bh * (b - a) + t - a) * s.dv + d];
        }
        expect(relError(joined, toBhsd(whole.out)), `out ${JSON.stringify(fm)}`).toBeLessThanOrEqual(1e-5);
        expect(relError(st!.S.toFloat32(), whole.state.S.toFloat32())).toBeLessThanOrEqual(1e-5);
        expect(relError(st!.z.toFloat32(), whole.state.z.toFloat32())).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it('decodes step by step from a prompt\'s state', () => {
    const s: Shape = { b: 1, hq: 2, hkv: 2, n: 90, dk: 8, dv: 8 };
    const { q, k, v } = qkv(s);
    const whole = linearAttentionSync(q, k, v, { decay: 0.9 });
    const prompt = 80;
    const cut = (t: Tensor, a: number, b: number) => {
      const f = t.toFloat32();
      const r = new Float32Array(2 * (b - a) * 8);
      for (let h = 0; h < 2; h++) r.set(f.subarray((h * 90 + a) * 8, (h * 90 + b) * 8), h * (b - a) * 8);
      return Tensor.from(r, [1, 2, b - a, 8]);
    };
    let st = linearAttentionSync(cut(q, 0, prompt), cut(k, 0, prompt), cut(v, 0, prompt), { decay: 0.9, returnState: true }).state;
    const w = whole.toFloat32();
    for (let t = prompt; t < 90; t++) {
      const r = linearAttentionSync(cut(q, t, t + 1), cut(k, t, t + 1), cut(v, t, t + 1), { decay: 0.9, initialState: st, returnState: true });
      const ref = new Float32Array(16);
      for (let h = 0; h < 2; h++) ref.set(w.subarray((h * 90 + t) * 8, (h * 90 + t + 1) * 8), h * 8);
      expect(relError(r.out.toFloat32(), ref)).toBeLessThanOrEqual(1e-5);
      st = r.state;
    }
  });
});

describe('linear attention: inputs', () => {
  const s: Shape = { b: 1, hq: 2, hkv: 1, n: 10, dk: 4, dv: 3 };
  const { q, k, v } = qkv(s);

  it('rejects gates outside (0, 1] with a clear error', () => {
    for (const bad of [0, -0.5, 1.5, NaN]) {
      expect(() => linearAttentionSync(q, k, v, { decay: bad })).toThrow(RangeError);
      expect(() => linearAttentionSync(q, k, v, { decay: bad })).toThrow(/\(0, 1\]/);
      expect(() => linearAttentionSync(q, k, v, { decay: new Float32Array([0.5, bad]) })).toThrow(/options\.decay\[1\] must be in \(0, 1\]/);
      const g = gates(s, null);
      (g.data as Float32Array)[13] = bad;
      expect(() => linearAttentionSync(q, k, v, { decay: g })).toThrow(/element \[0, 1, 3\] is/);
      const gd = gates(s, 4);
      (gd.data as Float32Array)[5] = bad;
      expect(() => linearAttentionSync(q, k, v, { decay: gd })).toThrow(RangeError);
    }
  });

  it('rejects wrong shapes', () => {
    expect(() => linearAttentionSync(q, k, v, { decay: new Float32Array(3).fill(0.5) })).toThrow(/one value per query head: expected 2, got 3/);
    expect(() => linearAttentionSync(q, k, v, { decay: Tensor.zeros([1, 2, 9]) })).toThrow(/per-step gates \[B, H, N\] = \[1, 2, 10\]/);
    expect(() => linearAttentionSync(q, k, v, { decay: Tensor.zeros([1, 2, 10, 5]) })).toThrow(/Df = headDim 4/);
    expect(() => linearAttentionSync(q, k, v, { decay: Tensor.zeros([1, 2, 10, 4]), featureMap: { favor: 6 } })).toThrow(/favor feature count 6/);
    const k2 = Tensor.randn([1, 1, 11, 4], { seed: 1 });
    expect(() => linearAttentionSync(q, k2, v)).toThrow(/k has seq 11 but q has 10/);
    const q3 = Tensor.randn([1, 3, 10, 4], { seed: 1 });
    const k3 = Tensor.randn([1, 2, 10, 4], { seed: 1 });
    const v3 = Tensor.randn([1, 2, 10, 3], { seed: 1 });
    expect(() => linearAttentionSync(q3, k3, v3)).toThrow(/multiple of k's and v's heads/);
    expect(() => linearAttentionSync(q, Tensor.randn([1, 1, 10, 5], { seed: 2 }), v)).toThrow(/headDim/);
    expect(() => linearAttentionSync(q, k, Tensor.randn([1, 2, 10, 3], { seed: 2 }))).toThrow(/v has 2 heads but k has 1/);
    expect(() => linearAttentionSync(Tensor.zeros([2, 10, 4]), k, v)).toThrow(/4-D/);
    expect(() => linearAttentionSync(q, k, v, { initialState: { S: Tensor.zeros([1, 2, 4, 4]), z: Tensor.zeros([1, 2, 4]) } })).toThrow(/initialState\.S must have shape/);
    expect(() => linearAttentionSync(q, k, v, { initialState: { S: Tensor.zeros([1, 2, 4, 3]), z: Tensor.zeros([1, 2, 3]) } })).toThrow(/initialState\.z must have shape/);
    expect(() => linearAttentionSync(q, k, v, { initialState: { S: Tensor.zeros([1, 2, 4, 3], { dtype: 'float16' }), z: Tensor.zeros([1, 2, 4]) } })).toThrow(/float32/);
    expect(() => linearAttentionSync(q, k, v, { initialState: { S: Tensor.zeros([1, 2, 4, 3]) } as never })).toThrow(/initialState\.z must be a float32 Tensor/);
  });

  it('rejects bad options', () => {
    expect(() => linearAttentionSync(q, k, v, { eps: -1e-6 })).toThrow(RangeError);
    expect(() => linearAttentionSync(q, k, v, { eps: -1 })).toThrow(/options\.eps must be finite and ≥ 0/);
    expect(() => linearAttentionSync(q, k, v, { eps: Infinity })).toThrow(RangeError);
    expect(() => linearAttentionSync(q, k, v, { eps: '1' as never })).toThrow(TypeError);
    expect(() => linearAttentionSync(q, k, v, { featureMap: 'softmax' as never })).toThrow(/featureMap must be 'identity', 'elu1', 'relu' or \{ favor/);
    expect(() => linearAttentionSync(q, k, v, { featureMap: { favor: 0 } })).toThrow(RangeError);
    expect(() => linearAttentionSync(q, k, v, { featureMap: { favor: 2.5 } })).toThrow(/positive integer/);
    expect(() => linearAttentionSync(q, k, v, { featureMap: { favor: 4, seed: 0.5 } })).toThrow(/seed must be an integer/);
    expect(() => linearAttentionSync(q, k, v, { featureMap: { favour: 4 } as never })).toThrow(/featureMap\.favour is not an option/);
    expect(() => linearAttentionSync(q, k, v, { normalise: true } as never)).toThrow(/options\.normalise is not an option/);
    expect(() => linearAttentionSync(q, k, v, { normalize: 1 as never })).toThrow(TypeError);
    expect(() => linearAttentionSync(q, k, v, { decay: [0.5, 0.5] as never })).toThrow(/Float32Array of per-head values/);
    expect(() => linearAttentionSync(q, k, v, { backend: 'gpu' as never })).toThrow(/options\.backend/);
    expect(() => linearAttentionSync(q, k, v, { backend: 'cuda' })).toThrow(/cuda/);
  });

  it('modifies nothing it was given', () => {
    const g = gates(s, 4, 0.5, 'bfloat16');
    const st = state(1, 2, 4, 3);
    const head = new Float32Array([0.5, 0.9]);
    const before = [q, k, v, g, st.S, st.z].map(checksum);
    for (const backend of ['cpu', 'reference'] as const) {
      linearAttentionSync(q, k, v, { decay: g, initialState: st, returnState: true, backend });
      linearAttentionSync(q, k, v, { decay: head, initialState: st, backend });
      linearAttentionSync(q, k, v, { decay: head, backend, featureMap: { favor: 5 } });
    }
    expect([q, k, v, g, st.S, st.z].map(checksum)).toEqual(before);
    expect(Array.from(head)).toEqual([0.5, 0.9].map(Math.fround));
  });

  it('the native entry point rejects bad calls from JS with exceptions, not crashes', () => {
    const addon = loadNative() as unknown as { linearAttentionSync(a: unknown): void };
    const f32 = (n: number) => new Float32Array(n);
    const view = (data: Float32Array, shape: number[]) => ({ data, dtype: 0, shape, strides: [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1], offset: 0 });
    const good = () => ({
      q: view(f32(8), [1, 1, 2, 4]),
      k: view(f32(8), [1, 1, 2, 4]),
      v: view(f32(6), [1, 1, 2, 3]),
      out: view(f32(6), [1, 1, 2, 3]),
      featureMap: 1,
      favorWeights: null,
      features: 0,
      decay: 0,
      decayHead: null,
      gates: null,
      gateStrides: [0, 0, 0, 0],
      normalize: true,
      eps: 1e-6,
      initS: null,
      initZ: null,
      stateS: null,
      stateZ: null,
      chunk: 64,
    });
    expect(() => addon.linearAttentionSync(good())).not.toThrow();
    expect(() => addon.linearAttentionSync({ ...good(), q: view(f32(7), [1, 1, 2, 4]) })).toThrow(/buffer holds 7/);
    expect(() => addon.linearAttentionSync({ ...good(), out: view(f32(6), [1, 1, 2, 4]) })).toThrow();
    expect(() => addon.linearAttentionSync({ ...good(), decay: 2, gates: f32(1), gateStrides: [2, 2, 1, 0] })).toThrow(/gates reach/);
    expect(() => addon.linearAttentionSync({ ...good(), decay: 1, decayHead: new Float32Array([0]) })).toThrow(/\(0, 1\]/);
    expect(() => addon.linearAttentionSync({ ...good(), featureMap: 3, features: 4, favorWeights: f32(3) })).toThrow(/favor weights/);
    expect(() => addon.linearAttentionSync({ ...good(), stateS: f32(12), stateZ: f32(3) })).toThrow(/state outputs/);
    expect(() => addon.linearAttentionSync({ ...good(), initS: f32(12) })).toThrow(/together/);
    expect(() => addon.linearAttentionSync({ ...good(), eps: -1 })).toThrow(/eps/);
    expect(() => addon.linearAttentionSync({ ...good(), chunk: 0 })).toThrow(/chunk/);
    expect(() => addon.linearAttentionSync({ ...good(), featureMap: 9 })).toThrow(/featureMap/);
    expect(() => addon.linearAttentionSync(null)).toThrow(TypeError);
  });

  it('handles empty batches and zero-length sequences', () => {
    const e = qkv({ b: 1, hq: 2, hkv: 1, n: 0, dk: 4, dv: 3 });
    const st = state(1, 2, 4, 3);
    for (const backend of ['cpu', 'reference'] as const) {
      const r = linearAttentionSync(e.q, e.k, e.v, { backend, initialState: st, returnState: true, decay: 0.5 });
      expect(r.out.shape).toEqual([1, 2, 0, 3]);
      expect(Array.from(r.state.S.toFloat32())).toEqual(Array.from(st.S.toFloat32()));
      expect(Array.from(r.state.z.toFloat32())).toEqual(Array.from(st.z.toFloat32()));
    }
  });
});
