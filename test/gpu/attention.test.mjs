// The CUDA backend against the float64 oracle and the CPU backend: dtypes, layouts, patterns
// (per-head and random too), GQA ratios, seqQ != seqK, head dims, options, empty rows, and both
// kernels (the tensor-core kernel and the general kernel, forced through ATTNFLOW_CUDA_KERNEL).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  SKIP,
  Tensor,
  attention,
  attentionSync,
  checkCase,
  inputs,
  oracle,
  relError,
  toBhsd,
  withKernel,
} from './helpers.mjs';

const DTYPES = ['float32', 'float16', 'bfloat16'];

const PATTERNS = [
  'full',
  'causal',
  'sliding(100)',
  'causal & sliding(37) | sink(3)',
  'window(20, 20) | global(0, 77)',
  'dilated(8, 3)',
  'strided(7) | block(16)',
  'docs(40, 100, 7, 113)',
  'random(9, 42)',
  'randomBlocks(2, 32, 5)',
  'perHead(causal, full, sliding(33), global(0, 5))',
  'perHead(random(4, 1), log, prefix(50))',
];

describe('CUDA attention vs the oracle and the CPU backend', { skip: SKIP }, () => {
  for (const kernel of ['auto', 'general']) {
    describe(`kernel ${kernel}`, () => {
      const k = kernel === 'auto' ? undefined : kernel;
      for (const dtype of DTYPES) {
        for (const d of [64, 128]) {
          it(`${dtype} d${d}: full, causal (bhsd, bshd)`, () =>
            withKernel(k, async () => {
              await checkCase({ hq: 4, hkv: 4, sq: 130, sk: 130, d, dtype }, {});
              await checkCase({ hq: 4, hkv: 2, sq: 200, sk: 333, d, dtype, layout: 'bshd' }, { causal: true });
            }));
        }
        it(`${dtype}: every pattern (d 64, GQA 4:2, seqQ != seqK)`, () =>
          withKernel(k, async () => {
            for (const pattern of PATTERNS) {
              await checkCase({ b: 2, hq: 4, hkv: 2, sq: 150, sk: 260, d: 64, dtype }, { pattern });
            }
          }));
      }
    });
  }

  it('GQA ratios 1, 2, 4, 8 and MQA', async () => {
    for (const dtype of DTYPES) {
      for (const [hq, hkv] of [[4, 4], [4, 2], [8, 2], [8, 1], [16, 1]]) {
        await checkCase({ hq, hkv, sq: 70, sk: 190, d: 128, dtype }, { causal: true });
      }
    }
  });

  it('seqQ > seqK leaves the first rows empty under causal (zeros, lse -Infinity)', async () => {
    for (const dtype of DTYPES) {
      for (const kernel of [undefined, 'general']) {
        await withKernel(kernel, async () => {
          const { q, k, v } = inputs({ hq: 2, sq: 200, sk: 90, d: 64, dtype });
          const [qd, kd, vd] = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
          const res = await attention(qd, kd, vd, { causal: true, returnLse: true });
          const out = res.out.toFloat32();
          const lse = res.lse.toFloat32();
          for (let h = 0; h < 2; h++) {
            for (let i = 0; i < 110; i++) {
              assert.equal(lse[h * 200 + i], -Infinity, `lse of empty row ${i}`);
              for (let d = 0; d < 64; d++) assert.equal(out[(h * 200 + i) * 64 + d], 0);
            }
            assert.ok(Number.isFinite(lse[h * 200 + 110]));
          }
          const ref = oracle(q, k, v, { causal: true });
          assert.ok(relError(toBhsd(res.out), ref.out) <= { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 }[dtype]);
        });
      }
    }
  });

  it('a pattern with no edge at all', async () => {
    const { q, k, v } = inputs({ hq: 2, sq: 65, sk: 65, d: 64, dtype: 'float16' });
    const res = await attention(q.to('cuda'), k.to('cuda'), v.to('cuda'), { pattern: 'causal - causal', returnLse: true });
    assert.ok(res.out.toFloat32().every((x) => x === 0));
    assert.ok(res.lse.toFloat32().every((x) => x === -Infinity));
  });

  it('scale, softcap, ALiBi, RoPE (half, interleaved, partial dims, offset)', async () => {
    const variants = [
      { scale: 0.3 },
      { softcap: 5 },
      { softcap: 30, causal: true },
      { alibi: true, causal: true },
      { alibi: new Float32Array([0.5, 0.25, 0.125, 0.0625]) },
      { rope: {} , causal: true },
      { rope: { style: 'interleaved', base: 500 } },
      { rope: { dims: 32, offset: 1000 }, pattern: 'sliding(50)' },
      { rope: {}, alibi: true, softcap: 20, pattern: 'causal & sliding(64) | sink(4)' },
    ];
    for (const dtype of DTYPES) {
      for (const d of [64, 128]) {
        for (const options of variants) {
          await checkCase({ hq: 4, hkv: 2, sq: 97, sk: 161, d, dtype }, options);
        }
      }
    }
  });

  it('other head dims take the general kernel', async () => {
    for (const dtype of DTYPES) {
      for (const d of [1, 16, 40, 80, 96, 100, 256]) {
        await checkCase({ hq: 2, sq: 70, sk: 70, d, dtype }, { causal: true });
      }
    }
  });

  it('head dims above 256 are a clean error', async () => {
    const { q, k, v } = inputs({ hq: 1, sq: 4, sk: 4, d: 260 });
    await assert.rejects(attention(q.to('cuda'), k.to('cuda'), v.to('cuda')), /head dims up to 256/);
  });

  it('attentionSync on device tensors, and host inputs with backend cuda (copied in and out)', async () => {
    await checkCase({ hq: 4, hkv: 1, sq: 100, sk: 300, d: 64, dtype: 'bfloat16' }, { causal: true }, { sync: true });
    for (const dtype of DTYPES) {
      const { q, k, v } = inputs({ hq: 2, sq: 80, sk: 120, d: 64, dtype });
      const ref = oracle(q, k, v, { pattern: 'sliding(40)' });
      const outSync = attentionSync(q, k, v, { pattern: 'sliding(40)', backend: 'cuda', returnLse: true });
      assert.equal(outSync.out.device, 'cpu');
      assert.equal(outSync.lse.device, 'cpu');
      assert.ok(relError(toBhsd(outSync.out), ref.out) <= { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 }[dtype]);
      const given = Tensor.zeros(q.shape, { dtype });
      const outAsync = await attention(q, k, v, { pattern: 'sliding(40)', backend: 'cuda', out: given });
      assert.equal(outAsync, given);
      assert.ok(relError(toBhsd(given), ref.out) <= { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 }[dtype]);
    }
  });

  // NaN / ±Infinity in q, k, v (as in test/reliability/nonfinite.test.ts): IEEE evaluation of the
  // naive formula. Masked keys never reach a row (also inside partial tiles), a NaN or +Infinity
  // score makes the row NaN (out and lse), attended non-finite v values reach their columns, a row
  // whose allowed scores are all −Infinity is empty. The CUDA backend must put non-finite values
  // exactly where the CPU backend does (same NaN / ±Infinity per element, same lse class per row)
  // and agree on the finite ones, for both kernels.
  it('non-finite inputs: the same non-finite elements as the CPU backend (both kernels)', async () => {
    const NAN_BITS = { float16: 0x7e00, bfloat16: 0x7fc0 };
    const INF_BITS = { float16: 0x7c00, bfloat16: 0x7f80 };
    function poke(t, H, S, D, h, s, d, value) {
      const at = (h * S + s) * D + d; // batch 1, bhsd
      if (t.dtype === 'float32') t.data[at] = value;
      else if (Number.isNaN(value)) t.data[at] = NAN_BITS[t.dtype];
      else t.data[at] = INF_BITS[t.dtype] | (value < 0 ? 0x8000 : 0);
    }
    function classes(a) {
      return Array.from(a, (x) => (Number.isNaN(x) ? 'N' : x === Infinity ? '+' : x === -Infinity ? '-' : 'F')).join('');
    }
    const problems = [
      // prefill, causal, seqQ != seqK: partial diagonal tiles and a partial tail tile
      {
        shape: { hq: 4, hkv: 2, sq: 130, sk: 150, d: 64 },
        options: { causal: true },
        pokes: [
          ['v', 0, 100, 3, NaN], ['v', 0, 149, 5, Infinity], ['v', 0, 70, 7, -Infinity], ['q', 0, 50, 4, Infinity],
          ['k', 1, 110, 0, NaN], ['k', 1, 30, 1, Infinity], ['q', 2, 5, 2, NaN], ['v', 1, 10, 0, NaN],
        ],
      },
      // sliding window: masked keys in every visited tile
      {
        shape: { hq: 2, hkv: 2, sq: 100, sk: 100, d: 128 },
        options: { pattern: 'sliding(40)' },
        pokes: [['v', 0, 70, 9, NaN], ['v', 0, 20, 1, Infinity], ['k', 1, 50, 3, NaN], ['q', 1, 10, 0, NaN], ['q', 0, 90, 2, -Infinity]],
      },
      // decode: split-KV and its combine (NaN in every split of a row; masked NaN)
      {
        shape: { hq: 4, hkv: 2, sq: 2, sk: 700, d: 64 },
        options: { pattern: 'sliding(300) | sink(2)' },
        pokes: [['q', 0, 0, 5, NaN], ['v', 0, 50, 2, NaN], ['v', 0, 1, 4, NaN], ['v', 1, 1, 3, Infinity], ['k', 1, 699, 7, NaN]],
      },
    ];
    for (const kernel of ['fa2', 'general']) {
      for (const dtype of kernel === 'fa2' ? ['float16', 'bfloat16'] : DTYPES) {
        for (const { shape, options, pokes } of problems) {
          const { hq, hkv, sq, sk, d } = shape;
          const { q, k, v } = inputs({ ...shape, dtype });
          for (const [which, h, pos, col, value] of pokes) {
            const t = { q, k, v }[which];
            poke(t, which === 'q' ? hq : hkv, which === 'q' ? sq : sk, d, h, pos, col, value);
          }
          const what = `${kernel} ${dtype} ${JSON.stringify(options)} ${sq}x${sk}`;
          const cpu = attentionSync(q, k, v, { ...options, backend: 'cpu', returnLse: true });
          const cpuOut = toBhsd(cpu.out);
          const cpuLse = cpu.lse.toFloat32();
          await withKernel(kernel, async () => {
            const [qd, kd, vd] = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
            const res = await attention(qd, kd, vd, { ...options, returnLse: true });
            const got = toBhsd(res.out);
            const lse = res.lse.toFloat32();
            assert.ok(classes(got).includes('N'), `${what}: the injection produces NaN outputs`);
            assert.equal(classes(got), classes(cpuOut), `${what}: non-finite output elements differ from the CPU backend`);
            assert.equal(classes(lse), classes(cpuLse), `${what}: non-finite lse rows differ from the CPU backend`);
            const finite = (a, ref) => a.map((x, i) => (Number.isFinite(ref[i]) ? x : 0));
            const err = relError(finite(got, cpuOut), finite(cpuOut, cpuOut));
            assert.ok(err <= 2 * { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 }[dtype], `${what}: finite outputs ${err}`);
            for (const t of [qd, kd, vd, res.out, res.lse]) t.dispose();
          });
        }
      }
    }
  });

  it('larger problems agree with the CPU backend (many tiles, the cp.async pipeline)', async () => {
    for (const dtype of ['float16', 'bfloat16', 'float32']) {
      for (const [pattern, d] of [['causal', 128], ['full', 64], ['causal & sliding(300) | sink(4)', 128]]) {
        const { q, k, v } = inputs({ b: 2, hq: 4, hkv: 2, sq: 1100, sk: 1300, d, dtype });
        const gpu = await attention(q.to('cuda'), k.to('cuda'), v.to('cuda'), { pattern });
        const cpu = attentionSync(q, k, v, { pattern, backend: 'cpu' });
        const err = relError(toBhsd(gpu), toBhsd(cpu));
        assert.ok(err <= { float32: 2e-5, float16: 4e-3, bfloat16: 2e-2 }[dtype], `${dtype} ${pattern} d${d}: ${err}`);
        assert.ok(!gpu.toFloat32().some(Number.isNaN));
      }
    }
  });
});
