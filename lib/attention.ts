/** attention() / attentionSync(): validate once, pick a backend, run. */
import { runCpu, runCpuSync } from './backends/cpu.js';
import { runCuda, runCudaSync } from './backends/cuda.js';
import { cudaUnavailableReason } from './device.js';
import type { BackendResult } from './backends/operands.js';
import { runReference } from './backends/reference.js';
import { loadNative, NativeUnavailableError, tryLoadNative, type NativeAddon } from './native.js';
import { planSelection } from './select/index.js';
import type { Selection } from './select/selection.js';
import type { Tensor } from './tensor.js';
import { planAttention, type AttentionOptions, type AttentionPlan } from './validate.js';

export type { AttentionOptions, BackendName, Layout, RopeOptions, SelectOptions } from './validate.js';
export type { Alignment } from './positions.js';

export interface AttentionWithLse {
  out: Tensor;
  /** float32 [batch, heads, seqQ]: log-sum-exp of each query row's scores; −Infinity for empty rows */
  lse: Tensor;
}

/** What `returnKeyMass: true` returns (the lse comes along, free, whether or not returnLse is set). */
export interface AttentionWithKeyMass extends AttentionWithLse {
  /**
   * float32 [batch, kvHeads, seqK]: for each key, the sum over the query rows of its kv head's
   * query heads of the key's softmax probability (0 for a key no row attends)
   */
  keyMass: Tensor;
}

type AttentionReturn = Tensor | AttentionWithLse | AttentionWithKeyMass;

let warnedFallback = false;

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
  const native = tryLoadNative();
  if (plan.backend === 'cpu') {
    if ('error' in native) throw new NativeUnavailableError(native.error);
    return 'cpu';
  }
  if ('error' in native) {
    if (!warnedFallback) {
      warnedFallback = true;
      process.emitWarning(new NativeUnavailableError(native.error).message + ' Falling back to the reference backend.', 'AttnflowWarning');
    }
    return 'reference';
  }
  return 'cpu';
}

function result(plan: AttentionPlan, r: BackendResult): AttentionReturn {
  if (plan.returnKeyMass) return { out: r.out, lse: r.lse, keyMass: r.keyMass! };
  return plan.returnLse ? { out: r.out, lse: r.lse } : r.out;
}

/** The addon's selection scorer when a plan runs on the native CPU backend, else null (TypeScript). */
export function selectionScorer(plan: AttentionPlan): NativeAddon | null {
  return chooseBackend(plan) === 'cpu' ? loadNative() : null;
}

/**
 * Runs a validated plan on its backend. A plan with `select` gets its selection computed first
 * (from q and k) unless `selection` is given (a KV cache computes it from the bounds it keeps).
 */
export async function runPlan(plan: AttentionPlan, selection?: Selection | null): Promise<BackendResult> {
  const backend = chooseBackend(plan);
  const sel = selection !== undefined ? selection : planSelection(plan, undefined, backend === 'cpu' ? loadNative() : null);
  return backend === 'cuda' ? runCuda(plan) : backend === 'cpu' ? runCpu(plan, sel) : runReference(plan, sel);
}

/** runPlan on the calling thread. */
export function runPlanSync(plan: AttentionPlan, selection?: Selection | null): BackendResult {
  const backend = chooseBackend(plan);
  const sel = selection !== undefined ? selection : planSelection(plan, undefined, backend === 'cpu' ? loadNative() : null);
  return backend === 'cuda' ? runCudaSync(plan) : backend === 'cpu' ? runCpuSync(plan, sel) : runReference(plan, sel);
}

/**
 * Attention over the neighborhoods of a pattern, off the event loop where the backend allows
 * (native backends run on worker threads; the reference backend runs on the calling thread).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnKeyMass: true }): Promise<AttentionWithKeyMass>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse: true }): Promise<AttentionWithLse>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & { returnLse?: false; returnKeyMass?: false }): Promise<Tensor>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Promise<AttentionReturn>;
export async function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Promise<AttentionReturn> {
  const plan = planAttention(q, k, v, options);
  return result(plan, await runPlan(plan));
}

/** attention() on the calling thread. */
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnKeyMass: true }): AttentionWithKeyMass;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse: true }): AttentionWithLse;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & { returnLse?: false; returnKeyMass?: false }): Tensor;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): AttentionReturn;
export function attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): AttentionReturn {
  const plan = planAttention(q, k, v, options);
  return result(plan, runPlanSync(plan));
}
