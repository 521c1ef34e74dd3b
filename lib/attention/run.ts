/** attention() / attentionSync(): validate once (plan.ts), pick a backend (lib/backends/), run. */
import { takeSignal, throwIfAborted, type AsyncOptions } from '../abort.js';
import { runCpu, runCpuSync } from '../backends/cpu.js';
import { runCuda, runCudaSync } from '../backends/cuda.js';
import { runReference } from '../backends/reference.js';
import type { AttentionOutputs } from '../backends/operands.js';
import { autoHostAddon } from '../backends/auto.js';
import { cudaUnavailableReason } from '../native/cuda.js';
import type { Tensor } from '../tensor.js';
import { planAttention, type AttentionOptions, type AttentionPlan } from './plan.js';

export type { AttentionOptions, BackendName, Layout, RopeOptions } from './plan.js';

export interface AttentionWithLse {
  out: Tensor;
  /** float32 [batch, heads, seqQ]: log-sum-exp of each query row's scores; −Infinity for empty rows */
  lse: Tensor;
}

/**
 * The backend that runs a plan: the inputs' device decides under 'auto', as in PyTorch. Device
 * tensors never silently travel to the host: naming a host backend for them is an error.
 */
function chooseBackend(plan: AttentionPlan): 'cpu' | 'reference' | 'cuda' {
  const device = plan.q.tensor.device;
  if (plan.backend === 'cuda' || (device !== 'cpu' && plan.backend === 'auto')) {
    const why = cudaUnavailableReason(device === 'cpu' ? 'cuda:0' : device);
    if (why !== null) throw new Error(`options.backend 'cuda' is unavailable: ${why}`);
    return 'cuda';
  }
  if (device !== 'cpu') {
    throw new RangeError(`options.backend '${plan.backend}' runs on the host, but q, k and v are on ${device}: move them with .to('cpu') or use backend 'cuda'`);
  }
  if (plan.backend === 'reference') return 'reference';
  // 'cpu' and 'auto' alike: the native CPU backend, or NativeUnavailableError saying how to get it
  autoHostAddon();
  return 'cpu';
}

function result(plan: AttentionPlan, r: AttentionOutputs): Tensor | AttentionWithLse {
  // every backend computes the lse when the plan asks for it
  return plan.returnLse ? { out: r.out, lse: r.lse! } : r.out;
}

/**
 * Attention over the neighborhoods of a pattern, off the event loop where the backend allows
 * (native backends run on the addon's own threads; the reference backend runs on the calling
 * thread). `options.signal` aborts it (lib/abort.ts).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & AsyncOptions & { returnLse: true }): Promise<AttentionWithLse>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & AsyncOptions & { returnLse?: false }): Promise<Tensor>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & AsyncOptions): Promise<Tensor | AttentionWithLse>;
export async function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & AsyncOptions): Promise<Tensor | AttentionWithLse> {
  const { signal, options: rest } = takeSignal(options);
  const plan = planAttention(q, k, v, rest);
  const backend = chooseBackend(plan);
  throwIfAborted(signal);
  const run = backend === 'cuda' ? runCuda(plan, signal) : backend === 'cpu' ? runCpu(plan, signal) : runReference(plan);
  return result(plan, await run);
}

/** attention() on the calling thread. */
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse: true }): AttentionWithLse;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & { returnLse?: false }): Tensor;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor | AttentionWithLse;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor | AttentionWithLse {
  const plan = planAttention(q, k, v, options);
  const backend = chooseBackend(plan);
  return result(plan, backend === 'cuda' ? runCudaSync(plan) : backend === 'cpu' ? runCpuSync(plan) : runReference(plan));
}
