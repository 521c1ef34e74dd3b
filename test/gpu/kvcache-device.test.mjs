// A KVCache on the device (device: 'cuda'): its slots in device memory, read in place by the CUDA
// kernels, against the host cache (CPU backend) and full attention (float64 oracle) on planted data
// for every policy and dtype; select on the cuda backend against the CPU backend; and no device
// allocation per decode step (allocator statistics). Skips without a GPU (SKIP), and fails at
// import when a GPU is expected but unusable (helpers.mjs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { KVCache } from '../../dist/index.js';
import { SKIP, TOLERANCE, Tensor, assertBelow, attention, attentionSync, device, gc, oracle, relError, settle, toBhsd } from './helpers.mjs';

const DTYPES = ['float32', 'float16', 'bfloat16'];
const POLICIES = ['window', 'streaming', 'h2o', 'adaptive'];

/** Rows [s0, s1) of a [B, H, S, D] bhsd host tensor. */
function rows(t, s0, s1) {
  const [B, H, S, D] = t.shape;
  const out = Tensor.zeros([B, H, s1 - s0, D], { dtype: t.dtype });
  for (let bh = 0; bh < B * H; bh++) out.data.set(t.data.subarray((bh * S + s0) * D, (bh * S + s1) * D), bh * (s1 - s0) * D);
  return out;
}

/**
 * Planted data: every query leans along u; key i along u with a weight of its own (well apart from
 * its neighbours' so that accumulated masses do not tie), the keys at `heavy` much more. So h2o and
 * adaptive have clear choices, which the device and the host cache must make alike.
 */
function planted(B, Hq, Hkv, N, D, heavy, dtype, seed) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const u = Float32Array.from({ length: D }, normal);
  const norm = Math.hypot(...u);
  for (let d = 0; d < D; d++) u[d] *= Math.sqrt(D) / norm / 4;
  const set = new Set(heavy);
  const make = (H, f) => {
    const a = new Float32Array(B * H * N * D);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) a[((b * H + h) * N + i) * D + d] = f(i, d, h);
    return Tensor.fromFloat32(a, [B, H, N, D], { dtype });
  };
  return {
    q: make(Hq, (_i, d) => 2 * u[d] + 0.1 * normal()),
    k: make(Hkv, (i, d) => (set.has(i) ? 3 : 0.2 + ((i * 0.6180339887) % 1)) * u[d] + 0.05 * normal()),
    v: make(Hkv, () => normal()),
  };
}

function decodeSchedule(N, prefill) {
  const out = [];
  for (let at = 0; at < N; ) {
    const n = at < prefill ? Math.min(64, prefill - at) : 1;
    out.push([at, at + n]);
    at += n;
  }
  return out;
}

describe('KVCache on cuda', { skip: SKIP }, () => {
  for (const dtype of DTYPES) {
    for (const policy of POLICIES) {
      it(`${dtype}, ${policy}: device cache == host cache (outputs, kept positions at every step), device and host inputs, RoPE`, async () => {
        const [B, Hq, Hkv, D, N] = [2, 8, 2, 64, 330];
        const heavy = [3, 70, 150];
        const t = planted(B, Hq, Hkv, N, D, heavy, dtype, 91 + POLICIES.indexOf(policy));
        const options = { batch: B, kvHeads: Hkv, headDim: D, dtype, budget: policy === 'adaptive' ? 256 : 128, policy };
        const host = new KVCache(options);
        const dev = new KVCache({ ...options, device: 'cuda' });
        const devHostIn = new KVCache({ ...options, device: 'cuda:0' });
        const rope = { base: 10000 };
        // window and streaming keep the same positions exactly. h2o and adaptive rank accumulated
        // key masses, which the GPU and CPU kernels round differently (~1e-6): on continuous data
        // two keys can come within that of each other, so the kept sets may part by a key or two
        // at a near-tie; the outputs are compared until then, the sets for the whole run.
        const exact = policy === 'window' || policy === 'streaming';
        let parted = false;
        let step = 0;
        for (const [a, b] of decodeSchedule(N, 200)) {
          const [q, k, v] = [t.q, t.k, t.v].map((x) => rows(x, a, b));
          const want = toBhsd(host.attentionSync(q, k, v, { rope, backend: 'cpu' }));
          const [qd, kd, vd] = [q, k, v].map((x) => x.to('cuda'));
          const got = step % 2 ? await dev.attention(qd, kd, vd, { rope }) : dev.attentionSync(qd, kd, vd, { rope });
          assert.equal(got.device, 'cuda:0');
          const gotHost = devHostIn.attentionSync(q, k, v, { rope });
          assert.equal(gotHost.device, 'cpu');
          if (!parted) {
            assertBelow(relError(toBhsd(got), want), 2 * TOLERANCE[dtype], `device inputs vs host cache at ${a}`);
            assertBelow(relError(toBhsd(gotHost), want), 2 * TOLERANCE[dtype], `host inputs vs host cache at ${a}`);
          }
          for (const x of [qd, kd, vd, got]) x.dispose();
          for (let h = 0; h < Hkv; h++) {
            const [d1, d2, hs] = [dev.positions(h), devHostIn.positions(h), host.positions(h)];
            if (exact) {
              assert.deepEqual([...d1], [...hs], `kept positions, head ${h}, after ${b}`);
              assert.deepEqual([...d2], [...hs]);
            } else {
              const keep = new Set(hs);
              for (const d of [d1, d2]) {
                assert.equal(d.length, hs.length, `kept count, head ${h}, after ${b}`);
                const apart = [...d].filter((p) => !keep.has(p)).length;
                if (apart > 0) parted = true;
                assert.ok(apart <= Math.max(2, hs.length / 100), `head ${h} after ${b}: ${apart} kept positions differ from the host cache's`);
              }
            }
          }
          step++;
        }
        assert.ok(dev.length < N);
        if (policy === 'h2o' || policy === 'adaptive') for (const p of heavy) assert.ok(dev.positions(0).includes(p), `heavy hitter ${p} kept`);
        dev.dispose();
        devHostIn.dispose();
      });
    }

    it(`${dtype}: with budget ≥ seen every policy equals full attention (oracle)`, () => {
      const [B, Hq, Hkv, D, N] = [1, 8, 2, 128, 300];
      const t = planted(B, Hq, Hkv, N, D, [5], dtype, 99);
      for (const policy of POLICIES) {
        const cache = new KVCache({ batch: B, kvHeads: Hkv, headDim: D, dtype, budget: policy === 'adaptive' ? 2 * N : N, policy, device: 'cuda' });
        for (const [a, b] of decodeSchedule(N, 260)) {
          const [q, k, v] = [t.q, t.k, t.v].map((x) => rows(x, a, b).to('cuda'));
          const got = cache.attentionSync(q, k, v, { alibi: true });
          const ref = oracle(rows(t.q, a, b), rows(t.k, 0, b), rows(t.v, 0, b), { causal: true, alibi: true });
          assertBelow(relError(toBhsd(got), ref.out), TOLERANCE[dtype], `${policy} at ${a}`);
          for (const x of [q, k, v, got]) x.dispose();
        }
        cache.dispose();
      }
    });
  }

  it('no device allocation per decode step: allocator statistics before and after 200 steps', async () => {
    const [B, Hq, Hkv, D] = [1, 32, 8, 128];
    const t = planted(B, Hq, Hkv, 1300, D, [9], 'float16', 7);
    for (const policy of POLICIES) {
      const cache = new KVCache({ batch: B, kvHeads: Hkv, headDim: D, dtype: 'float16', budget: policy === 'adaptive' ? 8 * 512 : 512, policy, device: 'cuda' });
      const out = rows(t.q, 0, 1).to('cuda');
      const step = (s) => {
        const [q, k, v] = [t.q, t.k, t.v].map((x) => rows(x, s, s + 1).to('cuda'));
        cache.attentionSync(q, k, v, { out });
        for (const x of [q, k, v]) x.dispose();
      };
      for (let s = 0; s < 1000; s++) step(s);
      // the run-time masks of earlier steps (uploaded per call) are freed with their BlockMask
      device.cudaSynchronize();
      gc();
      await settle();
      const before = device.cudaMemoryStats();
      for (let s = 1000; s < 1200; s++) step(s);
      device.cudaSynchronize();
      gc();
      await settle();
      const after = device.cudaMemoryStats();
      assert.ok(after.allocations <= before.allocations, `${policy}: live allocations ${before.allocations} → ${after.allocations}`);
      assert.ok(after.allocatedBytes <= before.allocatedBytes, `${policy}: allocated bytes ${before.allocatedBytes} → ${after.allocatedBytes}`);
      assert.ok(after.reservedBytes <= before.reservedBytes, `${policy}: the pool grew over decode steps (${before.reservedBytes} → ${after.reservedBytes})`);
      assert.equal(cache.deviceBytes, 2 * B * Hkv * ((policy === 'adaptive' ? 2 * 512 : 512) + 64) * D * 2);
      cache.dispose();
      out.dispose();
    }
  });

  it('select on cuda equals select on cpu (plain attention and a device cache)', async () => {
    for (const dtype of DTYPES) {
      const [B, Hq, Hkv, D, S] = [2, 8, 2, 64, 1500];
      const t = planted(B, Hq, Hkv, S, D, [40, 700, 1300], dtype, 5);
      const options = { causal: true, select: { blocks: 4, blockSize: 64 }, returnKeyMass: true };
      const cpu = attentionSync(t.q, t.k, t.v, { ...options, backend: 'cpu' });
      const full = attentionSync(t.q, t.k, t.v, { causal: true, backend: 'cpu' });
      assert.ok(relError(toBhsd(full), toBhsd(cpu.out)) > 10 * TOLERANCE[dtype], 'the selection restricts the keys');
      const [qd, kd, vd] = [t.q, t.k, t.v].map((x) => x.to('cuda'));
      for (const got of [attentionSync(qd, kd, vd, options), await attention(qd, kd, vd, options), attentionSync(t.q, t.k, t.v, { ...options, backend: 'cuda' })]) {
        assertBelow(relError(toBhsd(got.out), toBhsd(cpu.out)), 2 * TOLERANCE[dtype], `${dtype}: select out vs cpu`);
        assertBelow(relError(got.keyMass.toFloat32(), cpu.keyMass.toFloat32()), 1e-4, `${dtype}: select keyMass vs cpu`);
      }
      for (const x of [qd, kd, vd]) x.dispose();

      const opts = { batch: B, kvHeads: Hkv, headDim: D, dtype, budget: 1024, policy: 'streaming' };
      const host = new KVCache(opts);
      const dev = new KVCache({ ...opts, device: 'cuda' });
      const call = { select: { blocks: 4, blockSize: 64 }, rope: { base: 10000 } };
      for (const [a, b] of decodeSchedule(S, 1400).filter((_, i) => i < 40)) {
        const args = [t.q, t.k, t.v].map((x) => rows(x, a, b));
        const want = host.attentionSync(...args, { ...call, backend: 'cpu' });
        const onDevice = args.map((x) => x.to('cuda'));
        const got = dev.attentionSync(...onDevice, call);
        assertBelow(relError(toBhsd(got), toBhsd(want)), 2 * TOLERANCE[dtype], `${dtype}: cache select at ${a}`);
        for (const x of [...onDevice, got]) x.dispose();
      }
      dev.dispose();
    }
  });
});
