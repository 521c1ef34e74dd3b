/**
 * returnKeyMass: each key's attention mass (the sum over the query rows of its kv head's query
 * heads of the softmax probabilities) against an independent brute force, on random patterns,
 * GQA, explicit positions and rows with no key, on every host backend (wasm too, rows split
 * across its worker threads included).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { attention, attentionSync } from '../lib/attention/run.js';
import { toPattern } from '../lib/patterns/index.js';
import { Tensor, type DType } from '../lib/tensor.js';
import { bruteAttention } from './helpers/brute.js';
import { relError, toBhsd, TOLERANCE } from './helpers/oracle.js';
import { setWasmThreads } from '../lib/wasm/index.js';
import { Gen } from './reliability/fuzz.js';
import { patternString } from './reliability/gen.js';

const BACKENDS = ['reference', 'cpu', 'wasm'] as const;

afterAll(() => setWasmThreads(undefined));

describe('returnKeyMass', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: equals the brute-force probability sums (random patterns, GQA, positions, all dtypes)`, () => {
      const g = new Gen(1610);
      for (let c = 0; c < (backend === 'reference' ? 14 : 30); c++) {
        const dtype = g.pick<DType>(['float32', 'float16', 'bfloat16']);
        const pat = toPattern(patternString(g, 100));
        const B = g.int(1, 2);
        const Hkv = g.int(1, 2);
        const Hq = Hkv * g.int(1, 3);
        const Sk = g.int(1, 90);
        const Sq = g.int(1, 70);
        const D = 16;
        const q = Tensor.randn([B, Hq, Sq, D], { dtype, seed: g.int(0, 1e9) });
        const k = Tensor.randn([B, Hkv, Sk, D], { dtype, seed: g.int(0, 1e9) });
        const v = Tensor.randn([B, Hkv, Sk, D], { dtype, seed: g.int(0, 1e9) });
        const positioned = g.bool();
        const kp = positioned ? Int32Array.from(g.shuffle(Array.from({ length: Sk }, (_, j) => 2 * j))) : undefined;
        const res = attentionSync(q, k, v, { pattern: pat, backend, returnKeyMass: true, keyPositions: kp });
        expect(res.keyMass.shape).toEqual([B, Hkv, Sk]);
        expect(res.keyMass.dtype).toBe('float32');
        let maxPos = Sk - 1;
        if (kp) maxPos = Math.max(...kp);
        const want = bruteAttention(q, k, v, { pattern: pat, qpos: (i) => maxPos + 1 - Sq + i, kpos: (_hk, j) => (kp ? kp[j] : j) });
        const got = res.keyMass.toFloat32();
        expect(relError(got, want.keyMass), `case ${c}: ${pat} ${dtype}`).toBeLessThanOrEqual(1e-6);
        expect(relError(toBhsd(res.out), want.out)).toBeLessThanOrEqual(TOLERANCE[dtype]);
        // every non-empty row spreads exactly 1 over the keys
        const lse = res.lse.toFloat32();
        for (let b = 0; b < B; b++) {
          for (let hk = 0; hk < Hkv; hk++) {
            let rowsWithKeys = 0;
            for (let g2 = 0; g2 < Hq / Hkv; g2++) {
              for (let i = 0; i < Sq; i++) if (lse[(b * Hq + hk * (Hq / Hkv) + g2) * Sq + i] !== -Infinity) rowsWithKeys++;
            }
            let sum = 0;
            for (let j = 0; j < Sk; j++) sum += got[(b * Hkv + hk) * Sk + j];
            expect(Math.abs(sum - rowsWithKeys)).toBeLessThan(1e-4 * Math.max(1, rowsWithKeys));
          }
        }
      }
    });
  }

  // asynchronous calls: the wasm backend splits rows across its worker threads only then (4 of
  // them here, so the decode rows split whatever the machine's core count)
  it.each(['cpu', 'wasm'] as const)('%s: long decode rows (split across threads), prefill tiles, GQA packing, softcap and ALiBi', async (backend) => {
    if (backend === 'wasm') await setWasmThreads(4);
    const g = new Gen(1611);
    for (const [B, Hq, Hkv, Sq, Sk, pattern] of [
      [1, 8, 2, 1, 2000, 'causal'],
      [2, 4, 4, 1, 700, 'causal & sliding(500) | sink(4)'],
      [1, 2, 1, 130, 300, 'causal'],
      [1, 6, 2, 3, 1000, 'full'],
    ] as const) {
      const D = 32;
      const q = Tensor.randn([B, Hq, Sq, D], { seed: g.int(0, 1e9) });
      const k = Tensor.randn([B, Hkv, Sk, D], { seed: g.int(0, 1e9) });
      const v = Tensor.randn([B, Hkv, Sk, D], { seed: g.int(0, 1e9) });
      for (const extra of [{}, { softcap: 5 }, { alibi: true }] as const) {
        const got = await attention(q, k, v, { pattern, returnKeyMass: true, backend, ...extra });
        const want = attentionSync(q, k, v, { pattern, returnKeyMass: true, backend: 'reference', ...extra });
        expect(relError(got.keyMass.toFloat32(), want.keyMass.toFloat32()), `${B} ${Hq}/${Hkv} ${Sq}x${Sk} ${pattern} ${JSON.stringify(extra)}`).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('finds planted heavy hitters: keys every query attends to get the largest mass', async () => {
    const Sk = 200;
    const D = 32;
    const q = Tensor.randn([1, 4, 8, D], { seed: 11 });
    const kd = Tensor.randn([1, 2, Sk, D], { seed: 12 }).toFloat32().map((x) => 0.3 * x);
    const qd = q.toFloat32();
    // keys 17, 99 and 150 of each kv head are the mean query direction, scaled: heavy hitters
    for (const hk of [0, 1]) {
      for (const j of [17, 99, 150]) {
        for (let d = 0; d < D; d++) {
          let m = 0;
          for (let h = 2 * hk; h < 2 * hk + 2; h++) for (let i = 0; i < 8; i++) m += qd[((h * 8) + i) * D + d];
          kd[(hk * Sk + j) * D + d] = m / 4;
        }
      }
    }
    const k = Tensor.from(kd, [1, 2, Sk, D]);
    for (const backend of BACKENDS) {
      const { keyMass } = await attention(q, k, k, { returnKeyMass: true, backend });
      const m = keyMass.toFloat32();
      for (const hk of [0, 1]) {
        const row = Array.from(m.subarray(hk * Sk, (hk + 1) * Sk));
        const top3 = row.map((x, j) => [x, j]).sort((a, b) => b[0] - a[0]).slice(0, 3).map((e) => e[1]).sort((a, b) => a - b);
        expect(top3, backend).toEqual([17, 99, 150]);
      }
    }
  });

  it('bad input: returnKeyMass must be a boolean', () => {
    const t = Tensor.randn([1, 1, 2, 4], { seed: 1 });
    expect(() => attentionSync(t, t, t, { returnKeyMass: 1 as never })).toThrow(/options\.returnKeyMass must be a boolean/);
  });
});
