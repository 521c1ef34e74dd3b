/**
 * The benchmark's second CPU peer, @ruvector/attention (bench/ruvector.ts), computes the same
 * attention as attnflow: dense and causal, default and custom scale, against attnflow's reference
 * and cpu backends (relative Frobenius error ≤ 1e-4). An optional peer (not installed by default;
 * `npm install --no-save @ruvector/attention@^2.2` adds it): without it this suite is reported as
 * skipped, and fails under ATTNFLOW_REQUIRE=ruvector (see test/helpers/optional.ts).
 */
import { expect, it } from 'vitest';
import { attention, Tensor, type BackendName } from '../lib/index.js';
import { loadRuvector, ruvectorAttention } from '../bench/ruvector.js';
import { describeWith } from './helpers/optional.js';
import { relError } from './helpers/oracle.js';

const loaded = await loadRuvector();
const unavailable = 'error' in loaded ? `@ruvector/attention unavailable: ${loaded.error}` : null;

describeWith('ruvector', unavailable, '@ruvector/attention against attnflow', () => {
  const [B, H, S, D] = [2, 3, 77, 32];
  let seed = 777;
  const inputs = () => [0, 1, 2].map(() => Tensor.randn([B, H, S, D], { seed: seed++ })) as [Tensor, Tensor, Tensor];

  for (const backend of ['reference', 'cpu'] as BackendName[]) {
    for (const causal of [false, true]) {
      for (const scale of [undefined, 0.4]) {
        it(`${causal ? 'causal' : 'dense'}${scale ? `, scale ${scale}` : ''}: matches attnflow ${backend}`, async () => {
          const [q, k, v] = inputs();
          const ours = await attention(q, k, v, { causal, scale, backend });
          const peer = await ruvectorAttention({ batch: B, heads: H, seq: S, headDim: D, causal, scale }, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array);
          const theirs = await peer.run();
          const err = relError(theirs, ours.toFloat32());
          expect(err).toBeLessThanOrEqual(1e-4);
        });
      }
    }
  }

  it('rejects buffers of the wrong size', async () => {
    const x = new Float32Array(10);
    await expect(ruvectorAttention({ batch: 1, heads: 1, seq: 4, headDim: 4 }, x, x, x)).rejects.toThrow(RangeError);
  });
});
