// Decoding (seqQ <= 16) against a long KV cache: split-KV over thread blocks plus the combine
// kernel, the query heads of one KV head packed into one block, per-head masks (no packing),
// and the tensor-core kernel forced onto the same shapes.
import { describe, it } from 'node:test';

import { SKIP, checkCase, withKernel } from './helpers.mjs';

const DTYPES = ['float32', 'float16', 'bfloat16'];

describe('CUDA decode', { skip: SKIP }, () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: seqQ 1..16 against long keys, GQA packing, split-KV`, async () => {
      for (const sq of [1, 3, 16]) {
        for (const sk of [1, 63, 64, 65, 1000, 4097]) {
          for (const [hq, hkv] of [[8, 8], [8, 2], [32, 4], [16, 1]]) {
            if (sk > 1000 && sq > 1 && hq > 8) continue; // keeps the float64 oracle quick
            await checkCase({ b: 2, hq, hkv, sq, sk, d: 64, dtype }, { causal: true }, { cpu: sk <= 1000 });
          }
        }
      }
    });

    it(`${dtype}: decode with patterns, per-head masks and options`, async () => {
      const cases = [
        { pattern: 'sliding(256)' },
        { pattern: 'sink(4) | sliding(128)' },
        { pattern: 'perHead(causal, sliding(64), global(0, 1), random(7, 3))' },
        { pattern: 'strided(13)', alibi: true },
        { causal: true, softcap: 15, rope: { offset: 3 } },
        { causal: true, rope: { style: 'interleaved', dims: 64 } },
      ];
      for (const options of cases) {
        for (const d of [64, 128, 80]) {
          await checkCase({ b: 1, hq: 8, hkv: 2, sq: 4, sk: 777, d, dtype }, options);
        }
      }
    });
  }

  it('the tensor-core kernel forced onto decode shapes', () =>
    withKernel('fa2', async () => {
      for (const dtype of ['float16', 'bfloat16']) {
        for (const sq of [1, 16]) {
          await checkCase({ b: 2, hq: 8, hkv: 2, sq, sk: 1500, d: 128, dtype }, { causal: true });
        }
      }
    }));

  it('the general kernel forced onto prefill shapes (split-KV with few items)', () =>
    withKernel('general', async () => {
      for (const dtype of DTYPES) {
        await checkCase({ b: 1, hq: 1, sq: 200, sk: 3000, d: 128, dtype }, { pattern: 'causal & sliding(1000)' }, { cpu: false });
      }
    }));
});
