/**
 * The benchmark's ONNX peers compute the same attention as attnflow: the hand-written protobuf
 * encoder (bench/onnx) produces models that ONNX Runtime loads, and their outputs match
 * attnflow's (relative Frobenius error ≤ 1e-4). onnxruntime-node is an optional peer (not installed by
 * default; `npm install --no-save --ignore-scripts onnxruntime-node@^1.30` adds it): without it these
 * suites are reported as skipped, and fail under ATTNFLOW_REQUIRE=ort (see test/helpers/optional.ts).
 */
import { describe, expect, it } from 'vitest';
import { attention, Tensor, type BackendName } from '../lib/index.js';
import { ProtoWriter, encodeModel, DataType } from '../bench/onnx/index.js';
import { loadOrt, ortGqaDecode, ortLoadError, ortMatmulAttention, ortMha, ortSgemm } from '../bench/ort.js';
import { harness } from '../bench/peers.js';
import { runBench, type BenchConfig } from '../lib/bench/runner.js';
import { describeWith, isRequired } from './helpers/optional.js';

const ortLoaded = await loadOrt();
const ortError = 'error' in ortLoaded ? ortLoaded.error : null;

function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  expect(den).toBeGreaterThan(0);
  const e = Math.sqrt(num / den);
  expect(Number.isNaN(e)).toBe(false);
  return e;
}

describe('protobuf writer', () => {
  it('encodes varints, negative int64, floats and nested messages as protobuf does', () => {
    expect([...new ProtoWriter().varint(1).finish()]).toEqual([1]);
    expect([...new ProtoWriter().varint(300).finish()]).toEqual([0xac, 0x02]);
    expect([...new ProtoWriter().varint(2 ** 40).finish()]).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    const neg = new ProtoWriter().varint(-1).finish();
    expect(neg.length).toBe(10);
    expect([...neg]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect([...new ProtoWriter().int(1, 150).finish()]).toEqual([0x08, 0x96, 0x01]);
    expect([...new ProtoWriter().string(2, 'testing').finish()]).toEqual([0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
    expect([...new ProtoWriter().float(2, 1).finish()]).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
    expect([...new ProtoWriter().message(3, (m) => m.int(1, 150)).finish()]).toEqual([0x1a, 0x03, 0x08, 0x96, 0x01]);
    expect([...new ProtoWriter().packedInts(4, [3, 270]).finish()]).toEqual([0x22, 0x03, 0x03, 0x8e, 0x02]);
    expect(() => new ProtoWriter().varint(0.5)).toThrow(RangeError);
  });

  it('rejects an initializer whose data does not match its dims', () => {
    expect(() =>
      encodeModel({
        opsets: { '': 17 },
        graph: {
          name: 'g',
          nodes: [],
          inputs: [],
          outputs: [],
          initializers: [{ name: 'c', dataType: DataType.FLOAT, dims: [2, 2], data: new Float32Array(3) }],
        },
      }),
    ).toThrow(RangeError);
  });
});

describeWith('ort', ortError && `onnxruntime-node unavailable: ${ortError}`, 'ONNX peers against attnflow', () => {
  const B = 2;
  const H = 3;
  const S = 77; // not a multiple of any tile
  const D = 32;
  let seed = 4242;

  function bshd() {
    const shape = [B, S, H, D];
    return {
      q: Tensor.randn(shape, { layout: 'bshd', seed: seed++ }),
      k: Tensor.randn(shape, { layout: 'bshd', seed: seed++ }),
      v: Tensor.randn(shape, { layout: 'bshd', seed: seed++ }),
    };
  }

  function bhsd() {
    const shape = [B, H, S, D];
    return { q: Tensor.randn(shape, { seed: seed++ }), k: Tensor.randn(shape, { seed: seed++ }), v: Tensor.randn(shape, { seed: seed++ }) };
  }

  const backends: BackendName[] = ['reference', 'cpu'];

  for (const backend of backends) {
    for (const causal of [false, true]) {
      it(`com.microsoft.MultiHeadAttention${causal ? ' (unidirectional)' : ''} matches attnflow ${backend}${causal ? ' causal' : ''} on [B, S, H·D]`, async () => {
        const { q, k, v } = bshd();
        const ours = await attention(q, k, v, { pattern: causal ? 'causal' : 'full', backend });
        const mha = await ortMha({ batch: B, heads: H, seq: S, headDim: D, causal }, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, { threads: 1 });
        try {
          const theirs = await mha.run();
          expect(relError(theirs, ours.toFloat32())).toBeLessThanOrEqual(1e-4);
        } finally {
          await mha.release();
        }
      });
    }

    it(`the MatMul → Mul → Softmax → MatMul graph matches attnflow ${backend} on [B, H, S, D]`, async () => {
      const { q, k, v } = bhsd();
      const ours = await attention(q, k, v, { backend });
      const g = await ortMatmulAttention({ batch: B, heads: H, seq: S, headDim: D }, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, { threads: 1 });
      try {
        expect(relError(await g.run(), ours.toFloat32())).toBeLessThanOrEqual(1e-4);
      } finally {
        await g.release();
      }
    });
  }

  it('the MatMul graph honours a custom scale, and MultiHeadAttention too', async () => {
    const { q, k, v } = bhsd();
    const scale = 0.05;
    const ours = await attention(q, k, v, { backend: 'reference', scale });
    const g = await ortMatmulAttention({ batch: B, heads: H, seq: S, headDim: D, scale }, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array);
    expect(relError(await g.run(), ours.toFloat32())).toBeLessThanOrEqual(1e-4);
    await g.release();
    const s = bshd();
    const ours2 = await attention(s.q, s.k, s.v, { backend: 'reference', scale });
    const m = await ortMha({ batch: B, heads: H, seq: S, headDim: D, scale }, s.q.data as Float32Array, s.k.data as Float32Array, s.v.data as Float32Array);
    expect(relError(await m.run(), ours2.toFloat32())).toBeLessThanOrEqual(1e-4);
    await m.release();
  });

  it('com.microsoft.GroupQueryAttention, one decoding step over a cache, matches attnflow cpu (GQA, query at the last position)', async () => {
    const Hq = 4;
    const Hkv = 2;
    const keys = 150;
    const q = Tensor.randn([B, Hq, 1, D], { seed: seed++ });
    const k = Tensor.randn([B, Hkv, keys, D], { seed: seed++ });
    const v = Tensor.randn([B, Hkv, keys, D], { seed: seed++ });
    const ours = await attention(q, k, v, { pattern: 'causal', backend: 'cpu' });
    const g = await ortGqaDecode({ batch: B, heads: Hq, kvHeads: Hkv, headDim: D, keys }, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, { threads: 1 });
    try {
      // q [B, Hq, 1, D] and ORT's [B, 1, Hq·D] are the same bytes
      expect(relError(await g.run(), ours.toFloat32())).toBeLessThanOrEqual(1e-4);
    } finally {
      await g.release();
    }
  });

  it('the sgemm probe computes a matrix product', async () => {
    const n = 24;
    const g = await ortSgemm(n, { threads: 1 });
    const c = await g.run();
    await g.release();
    // the probe's inputs are deterministic: recompute them
    const a = new Float32Array(n * n);
    const b = new Float32Array(n * n);
    for (let i = 0; i < a.length; i++) {
      a[i] = ((i * 7919) % 1000) / 1000 - 0.5;
      b[i] = ((i * 104729) % 1000) / 1000 - 0.5;
    }
    const want = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let p = 0; p < n; p++) for (let j = 0; j < n; j++) want[i * n + j] += a[i * n + p] * b[p * n + j];
    expect(relError(c, want)).toBeLessThanOrEqual(1e-5);
  });
});

describe('the peer harness (bench/peers.ts), as the bench command loads it', () => {
  it('names the command that adds onnxruntime-node when it is not installed', () => {
    const missing = Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from /app/dist-bench/bench/ort.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(ortLoadError(missing)).toBe('onnxruntime-node is not installed; add it with: npm install --no-save --ignore-scripts onnxruntime-node@^1.30');
    expect(ortLoadError(new Error('libonnxruntime.so.1: cannot open shared object file'))).toMatch(/^onnxruntime-node does not load: libonnxruntime/);
  });

  it.skipIf(ortError !== null && !isRequired('ort'))('times both ONNX Runtime peers in a bench run', async () => {
    const cfg: BenchConfig = {
      quick: true,
      seqs: [64],
      patterns: ['causal'],
      backends: ['ort-mha', 'ort-matmul', 'cpu'],
      dtypes: ['float32'],
      headDims: [16],
      heads: 2,
      batch: 1,
      timeMs: 1,
      minIterations: 1,
      maxCallMs: 60_000,
      budgetS: 120,
      referenceMaxSeq: 64,
      threads: 1,
      memory: null,
    };
    const report = await runBench(cfg, { stderr: { write: () => true }, peers: async () => harness });
    expect(report.meta.onnxruntime).toMatch(/^\d+\.\d+/);
    // ort-matmul runs dense only: left out for causal
    expect(report.results.map((r) => [r.backend, r.status])).toEqual([
      ['ort-mha', 'ok'],
      ['cpu', 'ok'],
    ]);
    expect(report.probes.map((p) => p.backend).sort()).toEqual(['cpu', 'ort-mha']);
  });
});
