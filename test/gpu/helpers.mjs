// Shared helpers of the GPU suite (node --test, compiled package in dist/). See README.md.
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { existsSync, readdirSync } from 'node:fs';

import { Tensor, attention, attentionSync, compileMask } from '../../dist/index.js';
import { attentionOracle } from '../../dist/reference/oracle.js';
import { referenceProblem } from '../../dist/backends/reference.js';
import { planAttention } from '../../dist/attention/plan.js';
import * as cudaState from '../../dist/native/cuda.js';
import * as cudaBackend from '../../dist/backends/cuda.js';

/** Device state (lib/native/cuda.ts) and the CUDA backend's tensor helpers, as one namespace. */
const device = { ...cudaState, toDeviceAsync: cudaBackend.toDeviceAsync, emptyDeviceTensor: cudaBackend.emptyDeviceTensor };

export { Tensor, attention, attentionSync, compileMask, device, cudaBackend, planAttention };

/** SPEC bars on outputs, by dtype. */
export const TOLERANCE = { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 };

/** Bars on the log-sum-exp: exact up to float32 rounding, except that the CUDA RoPE pre-pass
 * rounds rotated q and k to the 16-bit input dtype. */
export function lseTolerance(dtype, rope) {
  if (dtype === 'float32') return 1e-5;
  if (!rope) return 1e-4;
  return dtype === 'float16' ? 2e-3 : 1e-2;
}

export const HAVE_CUDA = device.cudaAvailable();
export const SKIP = HAVE_CUDA ? false : `no CUDA device: ${device.cudaUnavailableReason('cuda:0')}`;

/**
 * Whether this run is meant to use a GPU: the NVIDIA driver's device files are there, or
 * ATTNFLOW_REQUIRE_GPU=1 says so. Such a run where attnflow cannot use the device (a missing
 * package in the carry list, an addon that does not load) would skip every suite and still exit
 * 0: it fails here instead, at import, so every suite file fails with the reason.
 */
export function gpuExpected() {
  if (process.env.ATTNFLOW_REQUIRE_GPU === '1') return true;
  if (existsSync('/dev/nvidiactl')) return true;
  try {
    return readdirSync('/proc/driver/nvidia/gpus').length > 0;
  } catch {
    return false;
  }
}

if (!HAVE_CUDA && gpuExpected()) {
  throw new Error(
    `GPU suite: this machine has an NVIDIA GPU (or ATTNFLOW_REQUIRE_GPU=1) but attnflow cannot use it: ${device.cudaUnavailableReason('cuda:0')}. ` +
      'Every suite would skip; check the carry list in test/gpu/README.md (node_modules/node-gyp-build, prebuilds/ or build/Release, dist).',
  );
}

let seed = 7000;
export function nextSeed() {
  return seed++;
}

export function shapeOf(layout, b, h, s, d) {
  return layout === 'bhsd' ? [b, h, s, d] : [b, s, h, d];
}

/** Host inputs. */
export function inputs({ b = 1, hq = 2, hkv = hq, sq, sk, d, dtype = 'float32', layout = 'bhsd' }) {
  return {
    q: Tensor.randn(shapeOf(layout, b, hq, sq, d), { dtype, layout, seed: nextSeed() }),
    k: Tensor.randn(shapeOf(layout, b, hkv, sk, d), { dtype, layout, seed: nextSeed() }),
    v: Tensor.randn(shapeOf(layout, b, hkv, sk, d), { dtype, layout, seed: nextSeed() }),
  };
}

/**
 * The float64 oracle on host tensors: out [B, Hq, Sq, D] and lse [B, Hq, Sq], contiguous (and
 * keyMass [B, Hkv, Sk] with options.returnKeyMass); explicit positions and alignment included.
 */
export function oracle(q, k, v, options = {}) {
  const plan = planAttention(q, k, v, { ...options, backend: 'reference', returnLse: undefined, out: undefined });
  return attentionOracle(referenceProblem(plan, null), { keyMass: plan.returnKeyMass });
}

/** A (host or device) result in logical bhsd order, as float64. */
export function toBhsd(t, layout = t.layout) {
  const shape = t.shape;
  const [B, H, S, D] = layout === 'bhsd' ? shape : [shape[0], shape[2], shape[1], shape[3]];
  const strides = layout === 'bhsd' ? [H * S * D, S * D, D, 1] : [S * H * D, D, H * D, 1];
  const f = t.toFloat32();
  const r = new Float64Array(B * H * S * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++)
        for (let d = 0; d < D; d++) r[((b * H + h) * S + s) * D + d] = f[b * strides[0] + h * strides[1] + s * strides[2] + d];
  return r;
}

/** ‖a − ref‖/‖ref‖; NaN anywhere gives NaN; infinite entries must match exactly. */
export function relError(a, ref) {
  assert.equal(a.length, ref.length, 'lengths differ');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i])) return NaN;
    if (!Number.isFinite(ref[i]) || !Number.isFinite(a[i])) {
      if (a[i] !== ref[i]) return Infinity;
      continue;
    }
    num += (a[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function assertBelow(err, bar, what) {
  assert.ok(err <= bar, `${what}: relative error ${err} > ${bar}`);
}

/** A device tensor shaped like `like` filled with NaN (every dtype: all-ones bits are NaN). */
export function poisonedDevice(like, dev = 'cuda:0', layout = like.layout) {
  const host = Tensor.zeros(like.shape, { dtype: like.dtype, layout });
  if (like.dtype === 'float32') host.data.fill(NaN);
  else host.data.fill(0xffff);
  return host.to(dev);
}

/** Runs `fn` with ATTNFLOW_CUDA_KERNEL set (read by the native code at every call). */
export async function withKernel(kind, fn) {
  const old = process.env.ATTNFLOW_CUDA_KERNEL;
  if (kind === undefined) delete process.env.ATTNFLOW_CUDA_KERNEL;
  else process.env.ATTNFLOW_CUDA_KERNEL = kind;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.ATTNFLOW_CUDA_KERNEL;
    else process.env.ATTNFLOW_CUDA_KERNEL = old;
  }
}

/**
 * One comparison: device inputs, output poisoned, attention on the GPU (async), compared with the
 * oracle (out and lse) and, when `cpu` is set, with the CPU backend on the host inputs.
 */
export async function checkCase(c, options = {}, { cpu = true, sync = false } = {}) {
  const { q, k, v } = inputs(c);
  const dtype = c.dtype ?? 'float32';
  const ref = oracle(q, k, v, options);
  const [qd, kd, vd] = [q.to('cuda'), k.to('cuda'), v.to('cuda')];
  const out = poisonedDevice(q, 'cuda:0', options.layout ?? q.layout);
  const call = { ...options, returnLse: true, out };
  const res = sync ? attentionSync(qd, kd, vd, call) : await attention(qd, kd, vd, call);
  assert.equal(res.out, out);
  assert.equal(res.out.device, 'cuda:0');
  assert.equal(res.lse.device, 'cuda:0');
  const got = toBhsd(res.out, options.layout ?? q.layout);
  assertBelow(relError(got, ref.out), TOLERANCE[dtype], 'out vs oracle');
  assertBelow(relError(res.lse.toFloat32(), ref.lse), lseTolerance(dtype, options.rope), 'lse vs oracle');
  if (cpu) {
    const host = attentionSync(q, k, v, { ...options, backend: 'cpu' });
    assertBelow(relError(got, toBhsd(host, options.layout ?? q.layout)), 2 * TOLERANCE[dtype], 'out vs cpu backend');
  }
  for (const t of [qd, kd, vd, res.out, res.lse]) t.dispose();
}

/** The garbage collector, exposed at run time when node was not started with --expose-gc. */
export function gc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc();
  v8.setFlagsFromString('--expose-gc');
  const f = vm.runInNewContext('gc');
  return f();
}

export async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
