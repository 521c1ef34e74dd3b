/**
 * The CUDA backend (native/cuda): attention, fed the mask compiled for its tile shape (64 x 64)
 * and uploaded once per mask and device; linear attention (the chunked scan) is in cuda-linear.ts.
 *
 * Device inputs give device outputs on the same device (`options.out`, when given, is written in
 * place). Host inputs with `backend: 'cuda'` are copied to cuda:0, run there, and the results
 * copied back into host tensors: convenient, but every call pays two transfers over PCIe, so
 * keep tensors on the device (`tensor.to('cuda')`) when calling repeatedly.
 */
import type { AttentionPlan } from '../attention/plan.js';
import { nativeCall } from '../abort.js';
import type { DType } from '../dtypes.js';
import type { LinearPlan } from '../linear/plan.js';
import type { BlockMask } from '../mask/blockmask.js';
import type { Selection } from '../select/selection.js';
import { LINEAR_CUDA_ENTRY_POINTS, hasEntryPoints, type AddonBindings, type CudaAttentionArgs, type CudaBindings, type CudaBufferHandle, type CudaView } from '../native/bindings.js';
import { deviceMask, requireCuda } from '../native/cuda.js';
import { nativeLinear } from '../native/load.js';
import { CudaStorage, allocStorage, copyToCudaAsync, cudaStorageOf } from '../native/cuda-storage.js';
import { deviceView, scoreArgs } from '../native/views.js';
import { deviceIndex } from '../storage.js';
import { Tensor, type Layout } from '../tensor.js';
import { planMask } from './masks.js';
import { runLinearHost, runLinearHostSync, type AttentionOutputs, type LinearOutputs } from './operands.js';

let tileShape: { blockQ: number; blockK: number } | undefined;

/** The tile shape the CUDA kernels run, which their masks are compiled for. */
export function cudaTile(cuda: CudaBindings): { blockQ: number; blockK: number } {
  tileShape ??= cuda.cudaTile();
  return tileShape;
}

function elements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A new device tensor whose contents are undefined (for outputs every element of which a kernel
 * writes). Errors name the device and the bytes asked for.
 * @internal
 */
export function emptyDeviceTensor(device: string, shape: readonly number[], dtype: DType, layout: Layout = 'bhsd'): Tensor {
  return Tensor.fromDeviceStorage(allocStorage(device, dtype, elements(shape)), shape, { dtype, layout });
}

/** emptyDeviceTensor() through the given CUDA functions. */
function emptyOn(cuda: CudaBindings, device: string, shape: readonly number[], dtype: DType, layout: Layout = 'bhsd'): Tensor {
  return Tensor.fromDeviceStorage(new CudaStorage(cuda, device, dtype, elements(shape)), shape, { dtype, layout });
}

/** A copy of a tensor on a cuda device, with the host-to-device copy on a worker thread. */
export async function toDeviceAsync(src: Tensor, device: string, signal?: AbortSignal): Promise<Tensor> {
  return Tensor.fromDeviceStorage(await copyToCudaAsync(src, device, signal), src.shape, { dtype: src.dtype, layout: src.layout });
}

function storageOf(t: Tensor): CudaStorage {
  const s = cudaStorageOf(t);
  if (s === null) throw new Error(`${t.toString()} is not a tensor of the CUDA backend`);
  return s;
}

/**
 * The mask of batch element `b` (every batch element shares it without a selection). A selection
 * (option `select`, computed on the host: lib/select/) becomes a run-time BlockMask per batch
 * element, uploaded for the call and freed with it by the garbage collector.
 */
function compile(plan: AttentionPlan, cuda: CudaBindings, selection: Selection | null, b: number): BlockMask {
  return planMask(plan, cudaTile(cuda), selection, b);
}

/** The device a plan runs on: its inputs' device, or cuda:0 for host inputs. */
function planDevice(plan: AttentionPlan): string {
  const d = plan.q.tensor.device;
  return d === 'cpu' ? 'cuda:0' : d;
}

/** One prepared call on device-resident q, k, v, and the outputs it allocated. */
interface DeviceCall extends AttentionOutputs {
  keyMass?: Tensor;
  /** one native call, or one per batch element when a selection gives each its own mask */
  args: CudaAttentionArgs[];
  /** frees the outputs this call allocated (after a failed launch) */
  release(): void;
}

/** A device view of operand `o` in `buffer`; with `b`, of batch element b only. */
function viewOf(o: AttentionPlan['q'], buffer: CudaBufferHandle, dtype: DType, b: number | null): CudaView {
  const view = deviceView(o, buffer, dtype);
  if (b === null) return view;
  return { ...view, shape: [1, o.heads, o.seq, o.headDim], offset: b * o.strides[0] };
}

/**
 * The native calls for device-resident q, k, v: allocates out (unless given) and, only when the
 * plan asks for them, the lse (also with key masses) and the key masses on the device (the kernels
 * skip writing a null lse). With a selection, one call per batch element (their masks differ).
 */
function deviceCall(plan: AttentionPlan, cuda: CudaBindings, [q, k, v]: readonly Tensor[], outGiven: Tensor | null, selection: Selection | null): DeviceCall {
  const device = q.device;
  const index = deviceIndex(device);
  const out = outGiven ?? emptyOn(cuda, device, q.shape, plan.dtype, plan.q.layout);
  let keyMass: Tensor | undefined;
  const release = (lse: Tensor | null) => {
    if (outGiven === null) out.dispose();
    lse?.dispose();
    keyMass?.dispose();
  };
  let lse: Tensor | null = null;
  try {
    if (plan.returnLse || plan.returnKeyMass) lse = emptyOn(cuda, device, [plan.q.batch, plan.q.heads, plan.q.seq], 'float32');
    if (plan.returnKeyMass) keyMass = emptyOn(cuda, device, [plan.k.batch, plan.k.heads, plan.k.seq], 'float32');
  } catch (e) {
    release(lse);
    throw e;
  }
  const { queryPositions, queryStart, keyPositions } = plan.positions;
  const args: CudaAttentionArgs[] = [];
  try {
    for (let b = 0; b < (selection === null ? 1 : plan.q.batch); b++) {
      const one = selection === null ? null : b;
      args.push({
        device: index,
        q: viewOf(plan.q, storageOf(q).handle, plan.dtype, one),
        k: viewOf(plan.k, storageOf(k).handle, plan.dtype, one),
        v: viewOf(plan.v, storageOf(v).handle, plan.dtype, one),
        out: viewOf(plan.q, storageOf(out).handle, plan.dtype, one),
        lse: lse === null ? null : { buffer: storageOf(lse).handle, offset: b * plan.q.heads * plan.q.seq },
        mask: deviceMask(cuda, compile(plan, cuda, selection, b), index),
        ...scoreArgs(plan),
        queryPositions,
        queryStart,
        keyPositions,
        keyMass: keyMass === undefined ? null : { buffer: storageOf(keyMass).handle, offset: b * plan.k.heads * plan.k.seq },
      });
    }
  } catch (e) {
    release(lse);
    throw e;
  }
  return { args, out, lse, keyMass, release: () => release(lse) };
}

const UNAVAILABLE = "options.backend 'cuda' is unavailable";

/** Host results of a host-input call: options.out (written in place) or a new tensor, and the lse and key masses when asked for. */
function hostOutputs(plan: AttentionPlan): AttentionOutputs {
  const out = plan.out ?? Tensor.zeros(plan.q.tensor.shape, { dtype: plan.dtype, layout: plan.q.layout });
  const lse = plan.returnLse || plan.returnKeyMass ? Tensor.zeros([plan.q.batch, plan.q.heads, plan.q.seq], { dtype: 'float32' }) : null;
  if (!plan.returnKeyMass) return { out, lse };
  return { out, lse, keyMass: Tensor.zeros([plan.k.batch, plan.k.heads, plan.k.seq], { dtype: 'float32' }) };
}

/** The device tensors of a call, for disposing once its results are on the host. */
function deviceTensors(call: DeviceCall): Tensor[] {
  return [call.out, ...(call.lse === null ? [] : [call.lse]), ...(call.keyMass === undefined ? [] : [call.keyMass])];
}

/** A device call's results. */
function outputsOf(call: DeviceCall): AttentionOutputs {
  return call.keyMass === undefined ? { out: call.out, lse: call.lse } : { out: call.out, lse: call.lse, keyMass: call.keyMass };
}

/**
 * Runs a device-input plan through `cuda` (sync). Exported with the CUDA functions as a
 * parameter so that tests can count what a call allocates without a device.
 * @internal
 */
export function runOnDeviceSync(plan: AttentionPlan, cuda: CudaBindings, selection: Selection | null = null): AttentionOutputs {
  const call = deviceCall(plan, cuda, [plan.q.tensor, plan.k.tensor, plan.v.tensor], plan.out, selection);
  try {
    for (const args of call.args) cuda.cudaAttentionSync(args);
  } catch (e) {
    call.release();
    throw e;
  }
  return outputsOf(call);
}

/** runOnDeviceSync() off the event loop. @internal */
export async function runOnDevice(plan: AttentionPlan, cuda: CudaBindings, selection: Selection | null = null, signal?: AbortSignal): Promise<AttentionOutputs> {
  const call = deviceCall(plan, cuda, [plan.q.tensor, plan.k.tensor, plan.v.tensor], plan.out, selection);
  try {
    for (const args of call.args) await nativeCall(signal, (token) => cuda.cudaAttention(args, token));
  } catch (e) {
    call.release();
    throw e;
  }
  return outputsOf(call);
}

/** Runs a plan on a cuda device: device inputs give device outputs; host inputs round-trip through cuda:0. */
export function runCudaSync(plan: AttentionPlan, selection: Selection | null = null): AttentionOutputs {
  const device = planDevice(plan);
  const cuda = requireCuda(device, UNAVAILABLE);
  if (plan.q.tensor.device !== 'cpu') return runOnDeviceSync(plan, cuda, selection);
  // Host inputs: copy in, run, copy out (slow: two PCIe transfers per call).
  const temps: Tensor[] = [];
  try {
    for (const o of [plan.q, plan.k, plan.v]) temps.push(o.tensor.to(device));
    const call = deviceCall(plan, cuda, temps, null, selection);
    temps.push(...deviceTensors(call));
    for (const args of call.args) cuda.cudaAttentionSync(args);
    const host = hostOutputs(plan);
    storageOf(call.out).copyToHost(host.out.data);
    if (call.lse !== null) storageOf(call.lse).copyToHost(host.lse!.data);
    if (call.keyMass !== undefined) storageOf(call.keyMass).copyToHost(host.keyMass!.data);
    return host;
  } finally {
    for (const t of temps) t.dispose();
  }
}

/**
 * runCudaSync() off the event loop: the kernels run on the device's stream, a thread of the addon
 * waits. `signal` aborts it between launches and copies (lib/abort.ts).
 */
export async function runCuda(plan: AttentionPlan, selection: Selection | null = null, signal?: AbortSignal): Promise<AttentionOutputs> {
  const device = planDevice(plan);
  const cuda = requireCuda(device, UNAVAILABLE);
  if (plan.q.tensor.device !== 'cpu') return runOnDevice(plan, cuda, selection, signal);
  const temps: Tensor[] = [];
  try {
    for (const o of [plan.q, plan.k, plan.v]) temps.push(await toDeviceAsync(o.tensor, device, signal));
    const call = deviceCall(plan, cuda, temps, null, selection);
    temps.push(...deviceTensors(call));
    for (const args of call.args) await nativeCall(signal, (token) => cuda.cudaAttention(args, token));
    const host = hostOutputs(plan);
    await storageOf(call.out).copyToHostAsync(host.out.data, signal);
    if (call.lse !== null) await storageOf(call.lse).copyToHostAsync(host.lse!.data, signal);
    if (call.keyMass !== undefined) await storageOf(call.keyMass).copyToHostAsync(host.keyMass!.data, signal);
    return host;
  } finally {
    for (const t of temps) t.dispose();
  }
}
