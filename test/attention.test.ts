import { describe, expect, it } from 'vitest';
import { attention, attentionSync, mergeAttention, Tensor, type AttentionOptions, type DType } from '../lib/index.js';
import { oracle, relError, toBhsd, TOLERANCE } from './helpers/oracle.js';

type Layout = 'bhsd' | 'bshd';

function shapeOf(layout: Layout, b: number, h: number, s: number, d: number): number[] {
  return layout === 'bhsd' ? [b, h, s, d] : [b, s, h, d];
}

let seed = 1000;
function inputs(o: { b?: number; hq?: number; hkv?: number; sq: number; sk: number; d: number; dtype?: DType; layout?: Layout }) {
  const { b = 1, hq = 2, hkv = hq, sq, sk, d, dtype = 'float32', layout = 'bhsd' } = o;
  return {
    q: Tensor.randn(shapeOf(layout, b, hq, sq, d), { dtype, layout, seed: seed++ }),
    k: Tensor.randn(shapeOf(layout, b, hkv, sk, d), { dtype, layout, seed: seed++ }),
    v: Tensor.randn(shapeOf(layout, b, hkv, sk, d), { dtype, layout, seed: seed++ }),
  };
}

/** Output poisoned with NaN, so a backend that skips an element fails. */
function poisoned(like: Tensor, layout: 'bhsd' | 'bshd' = like.layout): Tensor {
  const t = Tensor.zeros(like.shape, { dtype: like.dtype, layout });
  (t.data as Float32Array | Uint16Array).fill(like.dtype === 'float32' ? NaN : 0x7e00);
  return t;
}

function checkAgainstOracle(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions) {
  const ref = oracle(q, k, v, options);
  const out = poisoned(q, options.layout);
  const res = attentionSync(q, k, v, { ...options, backend: 'reference', returnLse: true, out });
  expect(res.out).toBe(out);
  const err = relError(toBhsd(res.out), ref.out);
  expect(err).toBeLessThanOrEqual(TOLERANCE[q.dtype]);
  expect(relError(res.lse.toFloat32(), ref.lse)).toBeLessThanOrEqual(1e-5);
}

describe('attention (reference backend) vs the float64 oracle', () => {
  const cases: [string, Parameters<typeof inputs>[0], AttentionOptions][] = [
    ['square, full', { sq: 33, sk: 33, d: 16 }, {}],
    ['causal', { sq: 70, sk: 70, d: 32 }, { causal: true }],
    ['decode against a cache (seqQ = 1)', { sq: 1, sk: 90, d: 16 }, { pattern: 'causal' }],
    ['seqQ < seqK, window', { sq: 20, sk: 75, d: 8 }, { pattern: 'window(6, 2)' }],
    ['seqQ > seqK leaves early rows empty', { sq: 40, sk: 25, d: 8 }, { causal: true }],
    ['GQA 4:1', { hq: 8, hkv: 2, sq: 30, sk: 30, d: 16 }, { causal: true }],
    ['MQA', { hq: 4, hkv: 1, sq: 17, sk: 40, d: 16 }, {}],
    ['batch 3, bshd', { b: 3, sq: 19, sk: 23, d: 12, layout: 'bshd' }, { pattern: 'window(3)' }],
    ['scale and softcap', { sq: 24, sk: 24, d: 16 }, { scale: 0.9, softcap: 5 }],
    ['alibi standard slopes', { hq: 4, sq: 24, sk: 30, d: 16 }, { alibi: true, causal: true }],
    ['alibi custom slopes', { hq: 2, sq: 12, sk: 12, d: 8 }, { alibi: new Float32Array([0.3, 0.05]) }],
    ['rope half', { sq: 20, sk: 28, d: 16 }, { rope: {}, causal: true }],
    ['rope interleaved, offset, partial dims', { sq: 20, sk: 20, d: 16 }, { rope: { style: 'interleaved', offset: 7, dims: 8, base: 500 } }],
    ['float16 bshd with every option', { hq: 4, hkv: 2, sq: 25, sk: 31, d: 16, dtype: 'float16', layout: 'bshd' }, { causal: true, softcap: 20, alibi: true, rope: {} }],
    ['bfloat16', { sq: 25, sk: 25, d: 32, dtype: 'bfloat16' }, { pattern: 'window(8, 8)' }],
  ];
  for (const [name, shape, options] of cases) {
    it(name, () => {
      const { q, k, v } = inputs(shape);
      checkAgainstOracle(q, k, v, options);
    });
  }

  it('empty rows give zeros and lse −Infinity', () => {
    const { q, k, v } = inputs({ sq: 10, sk: 4, d: 8 });
    const res = attentionSync(q, k, v, { causal: true, backend: 'reference', returnLse: true });
    const out = toBhsd(res.out);
    const lse = res.lse.toFloat32();
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 10; i++) {
        const empty = i < 6; // query i sits at position i − 6
        expect(lse[h * 10 + i] === -Infinity).toBe(empty);
        if (empty) for (let d = 0; d < 8; d++) expect(out[(h * 10 + i) * 8 + d]).toBe(0);
      }
    }
  });

  it('the layout option reinterprets shapes, and results agree across layouts', () => {
    const { q, k, v } = inputs({ sq: 9, sk: 9, d: 4, hq: 3 });
    const a = attentionSync(q, k, v, { backend: 'reference' });
    const asBshd = attentionSync(q, k, v, { backend: 'reference', layout: 'bshd' });
    expect(asBshd.shape).toEqual(q.shape);
    expect(asBshd.layout).toBe('bshd');
    expect(relError(asBshd.toFloat32(), a.toFloat32())).toBeGreaterThan(1e-3);
    checkAgainstOracle(q, k, v, { layout: 'bshd' });
  });

  it('attention() resolves to what attentionSync() returns, and inputs are untouched', async () => {
    const { q, k, v } = inputs({ sq: 16, sk: 16, d: 8 });
    const before = [q.toFloat32(), k.toFloat32(), v.toFloat32()];
    const a = await attention(q, k, v, { causal: true });
    const b = attentionSync(q, k, v, { causal: true });
    expect(a.toFloat32()).toEqual(b.toFloat32());
    expect([q.toFloat32(), k.toFloat32(), v.toFloat32()]).toEqual(before);
    const withLse = await attention(q, k, v, { returnLse: true });
    expect(withLse.lse.shape).toEqual([1, 2, 16]);
  });
});

describe('mergeAttention', () => {
  function split(t: Tensor, from: number, to: number): Tensor {
    const { batch: B, heads: H, seq: S, headDim: D } = t.dims4();
    const src = t.toFloat32();
    const n = to - from;
    const dst = new Float32Array(B * H * n * D);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let s = from; s < to; s++)
          for (let d = 0; d < D; d++) dst[((b * H + h) * n + s - from) * D + d] = src[((b * H + h) * S + s) * D + d];
    void S;
    return Tensor.from(dst, [B, H, n, D]);
  }

  it('attention over key shards, merged, equals one pass over all keys', () => {
    const { q, k, v } = inputs({ b: 2, hq: 4, hkv: 2, sq: 13, sk: 50, d: 16 });
    const whole = attentionSync(q, k, v, { backend: 'reference', returnLse: true });
    const bounds = [0, 7, 31, 50];
    const parts = bounds.slice(1).map((end, i) =>
      attentionSync(q, split(k, bounds[i], end), split(v, bounds[i], end), { backend: 'reference', returnLse: true }),
    );
    const merged = mergeAttention(parts);
    expect(relError(merged.out.toFloat32(), whole.out.toFloat32())).toBeLessThanOrEqual(1e-6);
    expect(relError(merged.lse.toFloat32(), whole.lse.toFloat32())).toBeLessThanOrEqual(1e-6);
    // Merging is order-independent.
    const reversed = mergeAttention([...parts].reverse());
    expect(relError(reversed.out.toFloat32(), merged.out.toFloat32())).toBeLessThanOrEqual(1e-7);
  });

  it('parts with empty rows contribute nothing; all-empty rows stay zero', () => {
    const { q, k, v } = inputs({ sq: 6, sk: 6, d: 8 });
    const full = attentionSync(q, k, v, { backend: 'reference', returnLse: true });
    const none = attentionSync(q, k, v, { backend: 'reference', returnLse: true, pattern: 'full - full' });
    expect(none.lse.toFloat32().every((x) => x === -Infinity)).toBe(true);
    const merged = mergeAttention([none, full]);
    expect(relError(merged.out.toFloat32(), full.out.toFloat32())).toBeLessThanOrEqual(1e-7);
    const empty = mergeAttention([none, none]);
    expect(empty.out.toFloat32().every((x) => x === 0)).toBe(true);
    expect(empty.lse.toFloat32().every((x) => x === -Infinity)).toBe(true);
  });

  it('keeps the dtype and layout of its parts', () => {
    const { q, k, v } = inputs({ sq: 5, sk: 8, d: 4, dtype: 'bfloat16', layout: 'bshd' });
    const a = attentionSync(q, k, v, { backend: 'reference', returnLse: true });
    const m = mergeAttention([a]);
    expect(m.out.dtype).toBe('bfloat16');
    expect(m.out.layout).toBe('bshd');
    expect(m.out.toFloat32()).toEqual(a.out.toFloat32());
  });

  it('rejects bad parts with errors that name them', () => {
    const { q, k, v } = inputs({ sq: 5, sk: 8, d: 4 });
    const a = attentionSync(q, k, v, { backend: 'reference', returnLse: true });
    expect(() => mergeAttention([])).toThrow(TypeError);
    expect(() => mergeAttention([a, { out: a.out } as never])).toThrow(/parts\[1\]\.lse/);
    expect(() => mergeAttention([a, { out: a.lse, lse: a.lse }])).toThrow(/parts\[1\]\.out/);
    const other = attentionSync(inputs({ sq: 6, sk: 8, d: 4 }).q, k, v, { backend: 'reference', returnLse: true });
    expect(() => mergeAttention([a, other])).toThrow(RangeError);
  });
});

describe('attention input validation', () => {
  const { q, k, v } = inputs({ hq: 4, hkv: 2, sq: 8, sk: 8, d: 8 });
  const bad: [string, () => unknown, RegExp, ErrorConstructor][] = [
    ['q not a tensor', () => attentionSync(new Float32Array(8) as never, k, v), /^q must be a Tensor/, TypeError],
    ['k not a tensor', () => attentionSync(q, null as never, v), /^k must be a Tensor/, TypeError],
    ['wrong rank', () => attentionSync(Tensor.randn([4, 8, 8], { seed: 1 }), k, v), /^q must be 4-D/, RangeError],
    ['batch mismatch', () => attentionSync(Tensor.randn([2, 4, 8, 8], { seed: 1 }), k, v), /k has batch 1 but q has 2/, RangeError],
    ['headDim mismatch', () => attentionSync(q, Tensor.randn([1, 2, 8, 4], { seed: 1 }), v), /k has headDim 4 but q has 8/, RangeError],
    ['k/v heads mismatch', () => attentionSync(q, k, Tensor.randn([1, 4, 8, 8], { seed: 1 })), /v has 4 heads but k has 2/, RangeError],
    ['k/v seq mismatch', () => attentionSync(q, k, Tensor.randn([1, 2, 9, 8], { seed: 1 })), /v has seq 9 but k has 8/, RangeError],
    ['Hq not a multiple of Hkv', () => attentionSync(Tensor.randn([1, 3, 8, 8], { seed: 1 }), k, v), /multiple of k's and v's heads/, RangeError],
    ['mixed dtypes', () => attentionSync(q, Tensor.randn([1, 2, 8, 8], { seed: 1, dtype: 'float16' }), v), /k has dtype float16 but q has float32/, TypeError],
    ['scale NaN', () => attentionSync(q, k, v, { scale: NaN }), /options\.scale/, RangeError],
    ['scale zero', () => attentionSync(q, k, v, { scale: 0 }), /options\.scale/, RangeError],
    ['scale negative', () => attentionSync(q, k, v, { scale: -1 }), /options\.scale/, RangeError],
    ['scale infinite', () => attentionSync(q, k, v, { scale: Infinity }), /options\.scale/, RangeError],
    ['softcap negative', () => attentionSync(q, k, v, { softcap: -2 }), /options\.softcap/, RangeError],
    ['bad layout', () => attentionSync(q, k, v, { layout: 'bsdh' as never }), /options\.layout must be 'bhsd' or 'bshd'/, RangeError],
    ['unknown backend', () => attentionSync(q, k, v, { backend: 'tpu' as never }), /options\.backend must be one of/, RangeError],
    ['cuda unavailable', () => attentionSync(q, k, v, { backend: 'cuda' }), /options\.backend 'cuda' is unavailable: .+/, Error],
    ['unknown option', () => attentionSync(q, k, v, { casual: true } as never), /options\.casual is not an option/, TypeError],
    ['options not an object', () => attentionSync(q, k, v, 'causal' as never), /^options must be an object/, TypeError],
    ['alibi wrong length', () => attentionSync(q, k, v, { alibi: new Float32Array(3) }), /options\.alibi must hold one slope per query head: expected 4, got 3/, RangeError],
    ['alibi wrong type', () => attentionSync(q, k, v, { alibi: [1, 2, 3, 4] as never }), /options\.alibi/, TypeError],
    ['rope odd dims', () => attentionSync(q, k, v, { rope: { dims: 3 } }), /options\.rope\.dims/, RangeError],
    ['rope bad style', () => attentionSync(q, k, v, { rope: { style: 'spiral' as never } }), /options\.rope\.style/, RangeError],
    ['rope bad base', () => attentionSync(q, k, v, { rope: { base: -5 } }), /options\.rope\.base/, RangeError],
    ['causal not boolean', () => attentionSync(q, k, v, { causal: 1 as never }), /options\.causal/, TypeError],
    ['out of the wrong shape', () => attentionSync(q, k, v, { out: k }), /options\.out must match q/, RangeError],
    ['bad pattern string', () => attentionSync(q, k, v, { pattern: 'causal &' }), /pattern|expected/i, SyntaxError],
  ];
  for (const [name, call, message, type] of bad) {
    it(name, () => {
      let thrown: unknown;
      try {
        call();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(type);
      expect((thrown as Error).message).toMatch(message);
    });
  }

  it('rejects a disposed input', () => {
    const t = Tensor.randn([1, 4, 8, 8], { seed: 3 });
    t.dispose();
    expect(() => attentionSync(t, k, v)).toThrow(/q .*disposed/);
  });

  it('the async form rejects instead of throwing', async () => {
    await expect(attention(q, k, v, { scale: -1 })).rejects.toThrow(RangeError);
  });
});
