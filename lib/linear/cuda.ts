/**
 * Linear attention on the CUDA backend (native/cuda/linear_scan.cu through
 * native/binding/cuda_linear.cpp): device tensors are read and written in place, on the device's
 * stream and memory pool — no copy of q, k, v, the gates or the state. Outputs (and the returned
 * state) are new tensors on the inputs' device. Per-step gates are checked on the device; float32
 * gates are used in place, 16-bit ones were decoded (and checked) on the host by the plan and are
 * uploaded as float32.
 *
 * Host tensors with backend 'cuda' are copied to cuda:0, run there, and the results copied back
 * (two transfers per call, as for attention: keep tensors on the device when calling repeatedly).
 */
import {
  cudaStorageOf,
  deviceIndex,
  emptyDeviceTensor,
  requireCuda,
  toDevice,
  toDeviceAsync,
  type CudaBufferHandle,
  type CudaNative,
  type CudaView,
} from '../device.js';
import { Tensor } from '../tensor.js';
import { FEATURE_CODE } from './features.js';
import { LINEAR_CHUNK } from './reference.js';
import type { LinearOutputs } from './cpu.js';
import { DECAY_CODE, outputShape, type LinearOperand, type LinearPlan } from './validate.js';

/** A device float32 array of the call: { buffer, offset } (offset in floats). */
export interface CudaFloats {
  buffer: CudaBufferHandle;
  offset: number;
}

/** The argument object of cudaLinearAttention / cudaLinearAttentionSync. */
export interface CudaLinearArgs {
  device: number;
  q: CudaView;
  k: CudaView;
  v: CudaView;
  out: CudaView;
  featureMap: 0 | 1 | 2 | 3;
  /** host memory */
  favorWeights: Float32Array | null;
  features: number;
  decay: 0 | 1 | 2 | 3;
  /** host memory */
  decayHead: Float32Array | null;
  gates: CudaFloats | null;
  gateStrides: [number, number, number, number];
  normalize: boolean;
  eps: number;
  initS: CudaFloats | null;
  initZ: CudaFloats | null;
  stateS: CudaFloats | null;
  stateZ: CudaFloats | null;
  chunk: number;
}

/** The addon's device linear-attention functions. */
interface CudaLinearNative {
  cudaLinearAttention?(args: CudaLinearArgs): Promise<void>;
  cudaLinearAttentionSync?(args: CudaLinearArgs): void;
}

const DTYPE_CODE = { float32: 0, float16: 1, bfloat16: 2 } as const;
const UNAVAILABLE = "linearAttention: options.backend 'cuda' is unavailable";

/** Whether the loaded addon has the device linear-attention entry points. */
export function hasCudaLinear(addon: unknown): boolean {
  const a = addon as CudaLinearNative;
  return typeof a.cudaLinearAttention === 'function' && typeof a.cudaLinearAttentionSync === 'function';
}

function linearNative(cuda: CudaNative): Required<CudaLinearNative> {
  if (!hasCudaLinear(cuda)) throw new Error(`${UNAVAILABLE}: the loaded native addon has no CUDA linear attention (rebuild it)`);
  return cuda as unknown as Required<CudaLinearNative>;
}

function handle(t: Tensor): CudaBufferHandle {
  const s = cudaStorageOf(t);
  if (s === null) throw new Error(`${t.toString()} is not a tensor of the CUDA backend`);
  return s.handle;
}

function view(o: LinearOperand, t: Tensor, shape = [o.batch, o.heads, o.seq, o.headDim], strides = o.strides): CudaView {
  return { buffer: handle(t), dtype: DTYPE_CODE[t.dtype], shape: [shape[0], shape[1], shape[2], shape[3]], strides: [...strides] as CudaView['strides'], offset: 0 };
}

const floats = (t: Tensor | null): CudaFloats | null => (t === null ? null : { buffer: handle(t), offset: 0 });

/** The device tensors one call reads, on `device`; `temps` collects the ones made for it. */
interface DeviceInputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  gates: Tensor | null;
  S: Tensor | null;
  z: Tensor | null;
}

/** Gates the kernel reads in place: a float32 device tensor as it is, host data uploaded (float32). */
function deviceGates(p: LinearPlan, device: string, temps: Tensor[]): Tensor | null {
  const d = p.decay;
  if (d.kind !== 'step' && d.kind !== 'stepDim') return null;
  if (d.data === null) return d.tensor;
  const t = toDevice(Tensor.fromFloat32(d.data, [d.data.length]), device);
  temps.push(t);
  return t;
}

/** The native call and its new outputs (on `device`); the outputs are disposed if building fails. */
function deviceCall(p: LinearPlan, device: string, inputs: DeviceInputs): { args: CudaLinearArgs; outputs: LinearOutputs } {
  const out = emptyDeviceTensor(device, outputShape(p), p.dtype, p.layout);
  const made = [out];
  try {
    const S = p.returnState ? emptyDeviceTensor(device, [p.batch, p.heads, p.df, p.dv], 'float32') : null;
    if (S) made.push(S);
    const z = p.returnState ? emptyDeviceTensor(device, [p.batch, p.heads, p.df], 'float32') : null;
    if (z) made.push(z);
    const [o0, o1, o2] = out.strides;
    const outStrides: [number, number, number, number] = p.layout === 'bhsd' ? [o0, o1, o2, 1] : [o0, o2, o1, 1];
    const d = p.decay;
    const args: CudaLinearArgs = {
      device: deviceIndex(device),
      q: view(p.q, inputs.q),
      k: view(p.k, inputs.k),
      v: view(p.v, inputs.v),
      out: view(p.q, out, [p.batch, p.heads, p.seq, p.dv], outStrides),
      featureMap: FEATURE_CODE[p.featureMap.kind],
      favorWeights: p.featureMap.kind === 'favor' ? p.featureMap.weights : null,
      features: p.featureMap.kind === 'favor' ? p.featureMap.features : 0,
      decay: DECAY_CODE[d.kind],
      decayHead: d.kind === 'head' ? d.gammas : null,
      gates: floats(inputs.gates),
      gateStrides: d.kind === 'step' ? [d.strides[0], d.strides[1], d.strides[2], 0] : d.kind === 'stepDim' ? [...d.strides] : [0, 0, 0, 0],
      normalize: p.normalize,
      eps: p.eps,
      initS: floats(inputs.S),
      initZ: floats(inputs.z),
      stateS: floats(S),
      stateZ: floats(z),
      chunk: LINEAR_CHUNK,
    };
    return { args, outputs: { out, S, z } };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

/** A gate outside (0, 1] is found on the device: the same RangeError the host check gives. */
function rethrow(e: unknown): never {
  const m = (e as Error).message ?? String(e);
  if (/gates must be in \(0, 1\]/.test(m)) throw new RangeError(`options.decay ${m}`);
  throw e;
}

function disposeOutputs(o: LinearOutputs): void {
  o.out.dispose();
  o.S?.dispose();
  o.z?.dispose();
}

/** The device inputs of a plan: `move` of each of its tensors (themselves when on the device). */
function deviceInputs(p: LinearPlan, device: string, temps: Tensor[], move: (t: Tensor) => Tensor): DeviceInputs {
  const init = p.initialState;
  return {
    q: move(p.q.tensor),
    k: move(p.k.tensor),
    v: move(p.v.tensor),
    gates: deviceGates(p, device, temps),
    S: init ? move(init.S) : null,
    z: init ? move(init.z) : null,
  };
}

/** Host copies of the outputs of a host plan (the device ones go to temps). */
function hostOutputs(o: LinearOutputs, temps: Tensor[]): LinearOutputs {
  const back = (t: Tensor | null) => {
    if (t === null) return null;
    temps.push(t);
    return t.to('cpu');
  };
  return { out: back(o.out)!, S: back(o.S), z: back(o.z) };
}

/** linearAttention on the CUDA backend, blocking (see the file comment). */
export function runLinearCudaSync(p: LinearPlan): LinearOutputs {
  const device = p.device === 'cpu' ? 'cuda:0' : p.device;
  const native = linearNative(requireCuda(device, UNAVAILABLE));
  const temps: Tensor[] = [];
  try {
    const move = (t: Tensor) => {
      if (p.device !== 'cpu') return t;
      const d = toDevice(t, device);
      temps.push(d);
      return d;
    };
    const { args, outputs } = deviceCall(p, device, deviceInputs(p, device, temps, move));
    try {
      native.cudaLinearAttentionSync(args);
    } catch (e) {
      disposeOutputs(outputs);
      rethrow(e);
    }
    return p.device === 'cpu' ? hostOutputs(outputs, temps) : outputs;
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** linearAttention on the CUDA backend, off the event loop (the host-to-device copies too). */
export async function runLinearCuda(p: LinearPlan): Promise<LinearOutputs> {
  const device = p.device === 'cpu' ? 'cuda:0' : p.device;
  const native = linearNative(requireCuda(device, UNAVAILABLE));
  const temps: Tensor[] = [];
  try {
    if (p.device === 'cpu') {
      // Copy the inputs on worker threads first; deviceInputs then finds them in place.
      const moved = new Map<Tensor, Tensor>();
      const init = p.initialState;
      for (const t of [p.q.tensor, p.k.tensor, p.v.tensor, ...(init ? [init.S, init.z] : [])]) {
        if (moved.has(t)) continue;
        const d = await toDeviceAsync(t, device);
        moved.set(t, d);
        temps.push(d);
      }
      const { args, outputs } = deviceCall(p, device, deviceInputs(p, device, temps, (t) => moved.get(t)!));
      try {
        await native.cudaLinearAttention(args);
      } catch (e) {
        disposeOutputs(outputs);
        rethrow(e);
      }
      return hostOutputs(outputs, temps);
    }
    const { args, outputs } = deviceCall(p, device, deviceInputs(p, device, temps, (t) => t));
    try {
      await native.cudaLinearAttention(args);
    } catch (e) {
      disposeOutputs(outputs);
      rethrow(e);
    }
    return outputs;
  } finally {
    for (const t of temps) t.dispose();
  }
}
