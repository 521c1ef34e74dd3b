// Decoding with a bounded KV cache on the GPU: explicit query and key positions (keys scattered
// over a long sequence, empty slots, one list per kv head, RoPE and ALiBi on true positions),
// top-left alignment, and returnKeyMass (the general kernel's records and mass kernel, with and
// without split-KV), against the float64 oracle and the CPU backend.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SKIP, TOLERANCE, Tensor, assertBelow, attention, attentionSync, inputs, lseTolerance, oracle, poisonedDevice, relError, toBhsd, withKernel } from './helpers.mjs';

const DTYPES = ['float32', 'float16', 'bfloat16'];

/** `n` key positions per head out of [0, span), shuffled, `empties` of them empty slots (−1). */
function scattered(heads, n, span, empties, seed) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out = new Int32Array(heads * n);
  for (let h = 0; h < heads; h++) {
    const all = Array.from({ length: span }, (_, i) => i);
    for (let i = span - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    const list = [...all.slice(0, n - empties), ...Array(empties).fill(-1)];
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
    out.set(list, h * n);
  }
  return out;
}

async function check(c, options, { keyMass = false } = {}) {
  const { q, k, v } = inputs(c);
  const dtype = c.dtype;
  const ref = oracle(q, k, v, { ...options, returnKeyMass: keyMass });
  const [qd, kd, vd] = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
  const out = poisonedDevice(q);
  const res = await attention(qd, kd, vd, { ...options, returnLse: true, returnKeyMass: keyMass, out });
  const got = toBhsd(res.out);
  assertBelow(relError(got, ref.out), TOLERANCE[dtype], 'out vs oracle');
  assertBelow(relError(res.lse.toFloat32(), ref.lse), lseTolerance(dtype, options.rope), 'lse vs oracle');
  const host = attentionSync(q, k, v, { ...options, backend: 'cpu', returnKeyMass: keyMass });
  assertBelow(relError(got, toBhsd(keyMass ? host.out : host)), 2 * TOLERANCE[dtype], 'out vs cpu backend');
  if (keyMass) {
    assert.equal(res.keyMass.device, 'cuda:0');
    assert.deepEqual(res.keyMass.shape, [c.b, c.hkv, c.sk]);
    const km = res.keyMass.toFloat32();
    assertBelow(relError(km, ref.keyMass), 1e-4, 'keyMass vs oracle');
    assertBelow(relError(km, host.keyMass.toFloat32()), 1e-4, 'keyMass vs cpu backend');
    res.keyMass.dispose();
  }
  for (const t of [qd, kd, vd, res.out, res.lse]) t.dispose();
}

describe('CUDA: positions, alignment, key masses', { skip: SKIP }, () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: keys at scattered positions (per kv head, empty slots), RoPE and ALiBi on true positions`, async () => {
      for (const [sq, sk, hq, hkv] of [[1, 4097, 32, 8], [3, 700, 8, 2], [100, 300, 4, 4]]) {
        const keyPositions = scattered(hkv, sk, 3 * sk, 7, sq * 31 + sk);
        for (const extra of [{}, { rope: { base: 10000 } }, { alibi: true }]) {
          await check({ b: 2, hq, hkv, sq, sk, d: 128, dtype }, { pattern: 'causal & sliding(2000) | sink(4)', keyPositions, ...extra });
        }
      }
    });

    it(`${dtype}: returnKeyMass, decode (split-KV, GQA packing) and prefill, with and without positions`, async () => {
      for (const kernel of [undefined, 'general']) {
        await withKernel(kernel, async () => {
          await check({ b: 1, hq: 32, hkv: 8, sq: 1, sk: 4097, d: 128, dtype }, { causal: true }, { keyMass: true });
          await check({ b: 2, hq: 8, hkv: 2, sq: 70, sk: 500, d: 64, dtype }, { causal: true, softcap: 20 }, { keyMass: true });
          const keyPositions = scattered(1, 900, 5000, 3, 5);
          await check({ b: 1, hq: 4, hkv: 2, sq: 4, sk: 900, d: 64, dtype }, { keyPositions, alibi: true }, { keyMass: true });
        });
      }
    });

    it(`${dtype}: top-left alignment (PyTorch is_causal) on both kernels`, async () => {
      for (const kernel of [undefined, 'general']) {
        await withKernel(kernel, async () => {
          for (const [sq, sk] of [[64, 300], [300, 64], [1, 50]]) {
            await check({ b: 1, hq: 4, hkv: 2, sq, sk, d: 64, dtype }, { causal: true, alignment: 'top-left', rope: {} });
          }
        });
      }
    });
  }

  it('host inputs with backend cuda return host key masses', () => {
    const { q, k, v } = inputs({ b: 1, hq: 4, hkv: 2, sq: 2, sk: 300, d: 64, dtype: 'float32' });
    const r = attentionSync(q, k, v, { causal: true, backend: 'cuda', returnKeyMass: true });
    assert.equal(r.keyMass.device, 'cpu');
    const ref = oracle(q, k, v, { causal: true, returnKeyMass: true });
    assertBelow(relError(r.keyMass.toFloat32(), ref.keyMass), 1e-4, 'keyMass vs oracle');
  });

});
