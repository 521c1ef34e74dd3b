/**
 * linearAttention() / linearAttentionSync(): causal kernelized attention as a scan (SPEC "Linear
 * attention"). Validate once (plan.ts), pick a backend (lib/backends/), run:
 * - 'cpu': the native chunked kernel (native/cpu/linear*.cpp), threads over (batch, head);
 * - 'reference': the chunked float32 TypeScript version (reference.ts);
 * - 'cuda': the chunked CUDA kernel (native/cuda/linear_scan.cu, cuda.ts): device tensors in
 *   place on their device's stream and memory pool, results on that device; host tensors with
 *   backend 'cuda' are copied to cuda:0 and back.
 * 'auto' follows the inputs' device: host tensors run on 'cpu' (or 'reference' without the addon),
 * device tensors on 'cuda'.
 *
 * Semantics (where SPEC is silent):
 * - shapes: q [B, Hq, N, Dk], k [B, Hkv, N, Dk], v [B, Hkv, N, Dv] (Dv may differ from Dk); the
 *   output is [B, Hq, N, Dv] in q's dtype and layout. GQA: query head h reads kv head
 *   ⌊h/(Hq/Hkv)⌋.
 * - the state is per query head (decay is per query head): S float32 [B, Hq, Df, Dv], z float32
 *   [B, Hq, Df], with Df = Dk, or the favor feature count. z is tracked even with
 *   normalize: false, so a scan can continue with either setting.
 * - normalize: false gives y_t = φ(q_t)ᵀS_t (eps unused).
 * - favor: φ(x) = exp(W x' − |x'|²/2)/√m with x' = x·Dk^(−1/4) (q and k alike, as Performer),
 *   W [m, Dk] iid N(0, 1) from the package's seeded Rng (seed default 0).
 * - per-step gates follow the layout: [B, H, N] / [B, H, N, Df] for 'bhsd', [B, N, H] /
 *   [B, N, H, Df] for 'bshd' (H = query heads); any dtype (16-bit gates are decoded).
 * - γ_t multiplies the previous state before step t's key is added (γ_0 decays the initial state).
 */
import { takeSignal, throwIfAborted, type AsyncOptions } from '../abort.js';
import { hasNativeLinear, runLinearCpu, runLinearCpuSync } from '../backends/cpu.js';
import { hasNativeLinearCuda, runLinearCuda, runLinearCudaSync } from '../backends/cuda-linear.js';
import type { LinearOutputs } from '../backends/operands.js';
import { runLinearReference } from '../backends/reference.js';
import { cudaUnavailableReason } from '../native/cuda.js';
import { tryLoadNative } from '../native/load.js';
import { autoHostAddon } from '../backends/auto.js';
import { Tensor } from '../tensor.js';
import { planLinearAttention, type LinearAttentionOptions, type LinearPlan, type LinearState } from './plan.js';

export type { FeatureMapOption, LinearAttentionOptions, LinearState } from './plan.js';

export interface LinearAttentionWithState {
  out: Tensor;
  /** the state after the last step: pass it as initialState to continue the scan */
  state: LinearState;
}

type Choice = 'cpu' | 'reference' | 'cuda';

function chooseBackend(plan: LinearPlan): Choice {
  if (plan.device !== 'cpu') {
    if (plan.backend === 'cpu' || plan.backend === 'reference') {
      throw new RangeError(`linearAttention: options.backend '${plan.backend}' runs on the host, but q, k and v are on ${plan.device}: move them with .to('cpu') or use backend 'cuda'`);
    }
    const why = cudaUnavailableReason(plan.device);
    if (why !== null) throw new Error(`linearAttention: options.backend 'cuda' is unavailable: ${why}`);
  }
  if (plan.backend === 'cuda' || plan.device !== 'cpu') {
    const native = tryLoadNative();
    if ('error' in native) throw new Error(`linearAttention: options.backend 'cuda' is unavailable: ${native.error}`);
    if (!hasNativeLinearCuda(native.addon)) throw new Error("linearAttention: options.backend 'cuda' is unavailable: the loaded native addon has no linear attention (rebuild it)");
    const cuda = native.addon.info().cuda;
    if (!cuda.available) throw new Error(`linearAttention: options.backend 'cuda' is unavailable: ${cuda.reason || 'no CUDA device'}`);
    return 'cuda';
  }
  if (plan.backend === 'reference') return 'reference';
  // 'cpu' and 'auto' alike: the native CPU backend, or NativeUnavailableError saying how to get it
  if (!hasNativeLinear(autoHostAddon())) throw new Error('linearAttention: the loaded native addon has no linear attention (rebuild it: npx cmake-js compile)');
  return 'cpu';
}

function result(plan: LinearPlan, r: LinearOutputs): Tensor | LinearAttentionWithState {
  if (!plan.returnState) return r.out;
  return { out: r.out, state: { S: r.S!, z: r.z! } };
}

/**
 * Causal linear attention (a kernelized scan). Runs off the event loop on the native backend.
 * Resolves to the output Tensor, or { out, state } with returnState: true.
 */
export function linearAttention(q: Tensor, k: Tensor, v: Tensor, options: LinearAttentionOptions & AsyncOptions & { returnState: true }): Promise<LinearAttentionWithState>;
export function linearAttention(q: Tensor, k: Tensor, v: Tensor, options?: LinearAttentionOptions & AsyncOptions): Promise<Tensor>;
export async function linearAttention(q: Tensor, k: Tensor, v: Tensor, options?: LinearAttentionOptions & AsyncOptions): Promise<Tensor | LinearAttentionWithState> {
  const taken = takeSignal(options);
  const signal = taken.signal;
  const rest = taken.options as LinearAttentionOptions | undefined;
  const plan = planLinearAttention(q, k, v, rest);
  const backend = chooseBackend(plan);
  throwIfAborted(signal);
  return result(plan, backend === 'cpu' ? await runLinearCpu(plan, signal) : backend === 'cuda' ? await runLinearCuda(plan, signal) : runLinearReference(plan));
}

/** linearAttention() on the calling thread. */
export function linearAttentionSync(q: Tensor, k: Tensor, v: Tensor, options: LinearAttentionOptions & { returnState: true }): LinearAttentionWithState;
export function linearAttentionSync(q: Tensor, k: Tensor, v: Tensor, options?: LinearAttentionOptions): Tensor;
export function linearAttentionSync(q: Tensor, k: Tensor, v: Tensor, options?: LinearAttentionOptions): Tensor | LinearAttentionWithState {
  const plan = planLinearAttention(q, k, v, options);
  const backend = chooseBackend(plan);
  return result(plan, backend === 'cpu' ? runLinearCpuSync(plan) : backend === 'cuda' ? runLinearCudaSync(plan) : runLinearReference(plan));
}
