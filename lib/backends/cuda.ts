/**
 * The CUDA backend (native/cuda), fed the mask compiled for its tile shape (64 x 64) and uploaded
 * once per mask and device.
 *
 * Device inputs give device outputs on the same device (`options.out`, when given, is written in
 * place). Host inputs with `backend: 'cuda'` are copied to cuda:0, run there, and the results
 * copied back into host tensors: convenient, but every call pays two transfers over PCIe, so
 * keep tensors on the device (`tensor.to('cuda')`) when calling repeatedly.
 */
import type { DType } from '../dtypes.js';
import type { BlockMask } from '../mask/blockmask.js';
import { Tensor } from '../tensor.js';
import type { AttentionPlan, Operand } from '../validate.js';
import {
  cudaStorageOf,
  deviceIndex,
  deviceMask,
  emptyDeviceTensor,
  requireCuda,
  toDevice,
  toDeviceAsync,
  type CudaAttentionArgs,
  type CudaNative,
  type CudaView,
} from '../device.js';
import { planMask } from './masks.js';
import type { BackendResult } from './operands.js';

const DTYPE_CODE: Record<DType, 0 | 1 | 2> = { float32: 0, float16: 1, bfloat16: 2 };

let tileShape: { blockQ: number; blockK: number } | undefined;

/** The tile shape the CUDA kernels run, which their masks are compiled for. */
export function cudaTile(cuda: CudaNative): { blockQ: number; blockK: number } {
  tileShape ??= cuda.cudaTile();
  return tileShape;
}

function view(o: Operand, t: Tensor): CudaView {
  const s = cudaStorageOf(t);
  if (s === null) throw new Error(`${t.toString()} is not a tensor of the CUDA backend`);
  return {
    buffer: s.handle,
    dtype: DTYPE_CODE[t.dtype],
    shape: [o.batch, o.heads, o.seq, o.headDim],
    strides: [...o.strides],
    offset: 0,
  };
}

function compile(plan: AttentionPlan, cuda: CudaNative): BlockMask {
  const why = unsupported(plan);
  if (why !== null) throw new Error(`the cuda backend does not support ${why} yet; use backend 'cpu' or 'reference'`);
  return planMask(plan, cudaTile(cuda), null);
}

/** What the CUDA backend cannot run yet, or null. */
function unsupported(plan: AttentionPlan): string | null {
  // the selection is computed on the host from q and k (select on device tensors: not yet)
  if (plan.select) return 'select';
  return null;
}

/** The device a plan runs on: its inputs' device, or cuda:0 for host inputs. */
function planDevice(plan: AttentionPlan): string {
  const d = plan.q.tensor.device;
  return d === 'cpu' ? 'cuda:0' : d;
}

/** The native call for device-resident q, k, v; allocates out (unless given) and lse on the device. */
function deviceCall(
  plan: AttentionPlan,
  cuda: CudaNative,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  outGiven: Tensor | null,
): { args: CudaAttentionArgs; out: Tensor; lse: Tensor; keyMass: Tensor | null } {
  const device = q.device;
  const index = deviceIndex(device);
  const mask = compile(plan, cuda);
  const maskHandle = deviceMask(cuda, mask, index);
  const out = outGiven ?? emptyDeviceTensor(device, q.shape, plan.dtype, plan.q.layout);
  let lse: Tensor;
  let keyMass: Tensor | null = null;
  try {
    lse = emptyDeviceTensor(device, [plan.q.batch, plan.q.heads, plan.q.seq], 'float32');
    if (plan.returnKeyMass) keyMass = emptyDeviceTensor(device, [plan.k.batch, plan.k.heads, plan.k.seq], 'float32');
  } catch (e) {
    if (outGiven === null) out.dispose();
    throw e;
  }
  const lseStorage = cudaStorageOf(lse)!;
  const { queryPositions, queryStart, keyPositions } = plan.positions;
  const args: CudaAttentionArgs = {
    device: index,
    q: view(plan.q, q),
    k: view(plan.k, k),
    v: view(plan.v, v),
    out: view(plan.q, out),
    lse: { buffer: lseStorage.handle, offset: 0 },
    mask: maskHandle,
    scale: plan.scale,
    softcap: plan.softcap,
    alibi: plan.alibiSlopes ? Float32Array.from(plan.alibiSlopes) : null,
    rope: plan.rope ? { base: plan.rope.base, interleaved: plan.rope.style === 'interleaved', offset: plan.rope.offset, dims: plan.rope.dims } : null,
    queryPositions,
    queryStart,
    keyPositions,
    keyMass: keyMass === null ? null : { buffer: cudaStorageOf(keyMass)!.handle, offset: 0 },
  };
  return { args, out, lse, keyMass };
}

const UNAVAILABLE = "options.backend 'cuda' is unavailable";

/** Host results of a host-input call: options.out (written in place) or a new tensor, and the lse. */
function hostOutputs(plan: AttentionPlan): { out: Tensor; lse: Tensor } {
  const out = plan.out ?? Tensor.zeros(plan.q.tensor.shape, { dtype: plan.dtype, layout: plan.q.layout });
  const lse = Tensor.zeros([plan.q.batch, plan.q.heads, plan.q.seq], { dtype: 'float32' });
  return { out, lse };
}

/** The results of a device call (key masses when asked for). */
function deviceResult(out: Tensor, lse: Tensor, keyMass: Tensor | null): BackendResult {
  return keyMass === null ? { out, lse } : { out, lse, keyMass };
}

/** Host copies of a host-input call's results. */
function hostKeyMass(plan: AttentionPlan): Tensor | null {
  return plan.returnKeyMass ? Tensor.zeros([plan.k.batch, plan.k.heads, plan.k.seq], { dtype: 'float32' }) : null;
}

/** Runs a plan whose inputs are on a cuda device: outputs on that device. */
export function runCudaSync(plan: AttentionPlan): BackendResult {
  const device = planDevice(plan);
  const cuda = requireCuda(device, UNAVAILABLE);
  if (plan.q.tensor.device !== 'cpu') {
    const { args, out, lse, keyMass } = deviceCall(plan, cuda, plan.q.tensor, plan.k.tensor, plan.v.tensor, plan.out);
    try {
      cuda.cudaAttentionSync(args);
    } catch (e) {
      if (plan.out === null) out.dispose();
      lse.dispose();
      keyMass?.dispose();
      throw e;
    }
    return deviceResult(out, lse, keyMass);
  }
  // Host inputs: copy in, run, copy out (slow: two PCIe transfers per call).
  const temps: Tensor[] = [];
  try {
    for (const o of [plan.q, plan.k, plan.v]) temps.push(toDevice(o.tensor, device));
    const call = deviceCall(plan, cuda, temps[0], temps[1], temps[2], null);
    temps.push(call.out, call.lse);
    if (call.keyMass) temps.push(call.keyMass);
    cuda.cudaAttentionSync(call.args);
    const host = hostOutputs(plan);
    cuda.cudaCopyToHost(cudaStorageOf(call.out)!.handle, 0, host.out.data);
    cuda.cudaCopyToHost(cudaStorageOf(call.lse)!.handle, 0, host.lse.data);
    const km = hostKeyMass(plan);
    if (km && call.keyMass) cuda.cudaCopyToHost(cudaStorageOf(call.keyMass)!.handle, 0, km.data);
    return deviceResult(host.out, host.lse, km);
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** runCudaSync() off the event loop: the kernels run on the device's stream, a worker thread waits. */
export async function runCuda(plan: AttentionPlan): Promise<BackendResult> {
  const device = planDevice(plan);
  const cuda = requireCuda(device, UNAVAILABLE);
  if (plan.q.tensor.device !== 'cpu') {
    const { args, out, lse, keyMass } = deviceCall(plan, cuda, plan.q.tensor, plan.k.tensor, plan.v.tensor, plan.out);
    try {
      await cuda.cudaAttention(args);
    } catch (e) {
      if (plan.out === null) out.dispose();
      lse.dispose();
      keyMass?.dispose();
      throw e;
    }
    return deviceResult(out, lse, keyMass);
  }
  const temps: Tensor[] = [];
  try {
    for (const o of [plan.q, plan.k, plan.v]) temps.push(await toDeviceAsync(o.tensor, device));
    const call = deviceCall(plan, cuda, temps[0], temps[1], temps[2], null);
    temps.push(call.out, call.lse);
    if (call.keyMass) temps.push(call.keyMass);
    await cuda.cudaAttention(call.args);
    const host = hostOutputs(plan);
    await cuda.cudaCopyToHostAsync(cudaStorageOf(call.out)!.handle, 0, host.out.data);
    await cuda.cudaCopyToHostAsync(cudaStorageOf(call.lse)!.handle, 0, host.lse.data);
    const km = hostKeyMass(plan);
    if (km && call.keyMass) await cuda.cudaCopyToHostAsync(cudaStorageOf(call.keyMass)!.handle, 0, km.data);
    return deviceResult(host.out, host.lse, km);
  } finally {
    for (const t of temps) t.dispose();
  }
}
