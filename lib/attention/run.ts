/** attention() / attentionSync(): validate once (plan.ts), pick a backend (lib/backends/), run. */
import { takeSignal, throwIfAborted, type AsyncOptions } from '../abort.js';
import { runCpu, runCpuSync } from '../backends/cpu.js';
import { runCuda, runCudaSync } from '../backends/cuda.js';
import { runReference } from '../backends/reference.js';
import type { AttentionOutputs } from '../backends/operands.js';
import { autoHostBackend, nativeHostAddon } from '../backends/auto.js';
import { runWasm, runWasmSync } from '../backends/wasm.js';
import type { AddonBindings } from '../native/bindings.js';
import { cudaUnavailableReason } from '../native/cuda.js';
import { loadNative } from '../native/load.js';
import { planSelection } from '../select/index.js';
import type { Selection } from '../select/selection.js';
import type { Tensor } from '../tensor.js';
import { wasmStatus, WasmUnavailableError } from '../wasm/index.js';
import { planAttention, type AttentionOptions, type AttentionPlan } from './plan.js';

export type { AttentionOptions, BackendName, Layout, RopeOptions, SelectOptions } from './plan.js';
export type { Alignment } from '../positions.js';

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

/**
 * The backend that runs a plan: the inputs' device decides under 'auto', as in PyTorch. Device
 * tensors never silently travel to the host: naming a host backend for them is an error.
 */
function chooseBackend(plan: AttentionPlan): 'cpu' | 'wasm' | 'reference' | 'cuda' {
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
  if (plan.backend === 'wasm') {
    const wasm = wasmStatus();
    if (!wasm.available) throw new WasmUnavailableError(wasm.reason!);
    return 'wasm';
  }
  if (plan.backend === 'cpu') {
    nativeHostAddon(); // NativeUnavailableError, saying how to get a binary
    return 'cpu';
  }
  // 'auto': native, else wasm (lib/backends/auto.ts)
  return autoHostBackend();
}

function result(plan: AttentionPlan, r: AttentionOutputs): AttentionReturn {
  // every backend computes the lse when the plan asks for it (or for key masses)
  if (plan.returnKeyMass) return { out: r.out, lse: r.lse!, keyMass: r.keyMass! };
  return plan.returnLse ? { out: r.out, lse: r.lse! } : r.out;
}

/**
 * The addon's selection scorer when a plan runs on a native backend (CPU or CUDA: the selection is
 * computed on the host either way, so both choose the same blocks), else null (TypeScript).
 */
export function selectionScorer(plan: AttentionPlan): AddonBindings | null {
  return nativeScorer(chooseBackend(plan));
}

/** The addon for the native backends (cpu, cuda); the others score in TypeScript (bit-identical: lib/select/quest.ts), so the wasm backend never loads the addon. */
function nativeScorer(backend: string): AddonBindings | null {
  return backend === 'cpu' || backend === 'cuda' ? loadNative() : null;
}

/** The selection of a plan with `select` (given by a KV cache, else computed from q and k). */
function selectionOf(plan: AttentionPlan, backend: string, selection: Selection | null | undefined): Selection | null {
  if (selection !== undefined) return selection;
  return planSelection(plan, undefined, nativeScorer(backend));
}

/**
 * Runs a validated plan on its backend. A plan with `select` gets its selection computed first
 * (from q and k) unless `selection` is given (a KV cache computes it from the bounds it keeps).
 */
export async function runPlan(plan: AttentionPlan, selection?: Selection | null, signal?: AbortSignal): Promise<AttentionOutputs> {
  const backend = chooseBackend(plan);
  const sel = selectionOf(plan, backend, selection);
  throwIfAborted(signal);
  return backend === 'cuda' ? runCuda(plan, sel, signal) : backend === 'cpu' ? runCpu(plan, sel, signal) : backend === 'wasm' ? runWasm(plan, sel, signal) : runReference(plan, sel);
}

/** runPlan on the calling thread. */
export function runPlanSync(plan: AttentionPlan, selection?: Selection | null): AttentionOutputs {
  const backend = chooseBackend(plan);
  const sel = selectionOf(plan, backend, selection);
  return backend === 'cuda' ? runCudaSync(plan, sel) : backend === 'cpu' ? runCpuSync(plan, sel) : backend === 'wasm' ? runWasmSync(plan, sel) : runReference(plan, sel);
}

/**
 * Attention over the neighborhoods of a pattern, off the event loop where the backend allows
 * (native backends run on the addon's own threads, the wasm backend on worker threads; the
 * reference backend runs on the calling thread). `options.signal` aborts it (lib/abort.ts).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & AsyncOptions & { returnKeyMass: true }): Promise<AttentionWithKeyMass>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & AsyncOptions & { returnLse: true }): Promise<AttentionWithLse>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & AsyncOptions & { returnLse?: false; returnKeyMass?: false }): Promise<Tensor>;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & AsyncOptions): Promise<AttentionReturn>;
export async function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & AsyncOptions): Promise<AttentionReturn> {
  const { signal, options: rest } = takeSignal(options);
  const plan = planAttention(q, k, v, rest);
  return result(plan, await runPlan(plan, undefined, signal));
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
