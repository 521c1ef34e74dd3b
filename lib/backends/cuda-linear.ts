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
import { nativeCall } from '../abort.js';
import { LINEAR_CHUNK } from '../linear/reference.js';
import { outputShape, type LinearPlan } from '../linear/plan.js';
import { LINEAR_CUDA_ENTRY_POINTS, hasEntryPoints, type AddonBindings, type CudaBindings, type CudaFloats, type CudaLinearArgs } from '../native/bindings.js';
import { requireCuda } from '../native/cuda.js';
import { cudaStorageOf } from '../native/cuda-storage.js';
import { DECAY_CODE, FEATURE_CODE, deviceView } from '../native/views.js';
import { deviceIndex } from '../storage.js';
import { Tensor } from '../tensor.js';
import { emptyDeviceTensor, toDeviceAsync } from './cuda.js';
import type { LinearOutputs } from './operands.js';

const UNAVAILABLE = "linearAttention: options.backend 'cuda' is unavailable";

/** Whether the loaded addon has the CUDA linear-attention entry points (one built from older sources may not). */
export function hasNativeLinearCuda(addon: AddonBindings): boolean {
  return hasEntryPoints(addon, LINEAR_CUDA_ENTRY_POINTS);
}

function handle(t: Tensor) {
  const s = cudaStorageOf(t);
  if (s === null) throw new Error(`${t.toString()} is not a tensor of the CUDA backend`);
  return s.handle;
}

const floats = (t: Tensor | null): CudaFloats | null => (t === null ? null : { buffer: handle(t), offset: 0 });

/** The device tensors one call reads. */
interface DeviceInputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  gates: Tensor | null;
  S: Tensor | null;
  z: Tensor | null;
}

/** Gates the kernel reads: a float32 device tensor in place, host data uploaded as float32 (into temps). */
function deviceGates(p: LinearPlan, device: string, temps: Tensor[]): Tensor | null {
  const d = p.decay;
  if (d.kind !== 'step' && d.kind !== 'stepDim') return null;
  if (d.data === null) return d.tensor;
  const t = Tensor.fromFloat32(d.data, [d.data.length]).to(device);
  temps.push(t);
  return t;
}

/** The device inputs of a plan: `move` of each of its tensors (themselves when already on the device). */
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

/** The native call and the new outputs it writes (on `device`); the outputs are freed if building fails. */
function deviceCall(p: LinearPlan, device: string, inputs: DeviceInputs): { args: CudaLinearArgs; outputs: LinearOutputs } {
  const made: Tensor[] = [];
  const alloc = (shape: number[], dtype: 'float32' | LinearPlan['dtype'], layout: LinearPlan['layout'] = 'bhsd') => {
    const t = emptyDeviceTensor(device, shape, dtype, layout);
    made.push(t);
    return t;
  };
  try {
    const out = alloc(outputShape(p), p.dtype, p.layout);
    const S = p.returnState ? alloc([p.batch, p.heads, p.df, p.dv], 'float32') : null;
    const z = p.returnState ? alloc([p.batch, p.heads, p.df], 'float32') : null;
    const [o0, o1, o2] = out.strides;
    const outStrides: [number, number, number, number] = p.layout === 'bhsd' ? [o0, o1, o2, 1] : [o0, o2, o1, 1];
    const d = p.decay;
    const args: CudaLinearArgs = {
      device: deviceIndex(device),
      q: deviceView(p.q, handle(inputs.q), p.dtype),
      k: deviceView(p.k, handle(inputs.k), p.dtype),
      v: deviceView(p.v, handle(inputs.v), p.dtype),
      out: deviceView({ batch: p.batch, heads: p.heads, seq: p.seq, headDim: p.dv, strides: outStrides }, handle(out), p.dtype),
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

function disposeOutputs(o: LinearOutputs): void {
  o.out.dispose();
  o.S?.dispose();
  o.z?.dispose();
}

/** A gate outside (0, 1] found on the device: the same RangeError the host check gives. */
function rethrow(e: unknown): never {
  const m = (e as Error)?.message ?? String(e);
  if (/gates must be in \(0, 1\]/.test(m)) throw new RangeError(`options.decay ${m}`);
  throw e;
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

function native(device: string): CudaBindings {
  const cuda = requireCuda(device, UNAVAILABLE);
  if (!hasEntryPoints(cuda, LINEAR_CUDA_ENTRY_POINTS)) throw new Error(`${UNAVAILABLE}: the loaded native addon has no CUDA linear attention (rebuild it)`);
  return cuda;
}

/** linearAttention on the CUDA backend, blocking (see the file comment). */
export function runLinearCudaSync(p: LinearPlan): LinearOutputs {
  const device = p.device === 'cpu' ? 'cuda:0' : p.device;
  const cuda = native(device);
  const temps: Tensor[] = [];
  try {
    const move = (t: Tensor) => {
      if (p.device !== 'cpu') return t;
      const d = t.to(device);
      temps.push(d);
      return d;
    };
    const { args, outputs } = deviceCall(p, device, deviceInputs(p, device, temps, move));
    try {
      cuda.cudaLinearAttentionSync(args);
    } catch (e) {
      disposeOutputs(outputs);
      rethrow(e);
    }
    return p.device === 'cpu' ? hostOutputs(outputs, temps) : outputs;
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** linearAttention on the CUDA backend, off the event loop (the host-to-device copies too); `signal` aborts it between copies and launches. */
export async function runLinearCuda(p: LinearPlan, signal?: AbortSignal): Promise<LinearOutputs> {
  const device = p.device === 'cpu' ? 'cuda:0' : p.device;
  const cuda = native(device);
  const temps: Tensor[] = [];
  try {
    const moved = new Map<Tensor, Tensor>();
    if (p.device === 'cpu') {
      // Copy the inputs on worker threads first; deviceInputs then finds them.
      const init = p.initialState;
      for (const t of [p.q.tensor, p.k.tensor, p.v.tensor, ...(init ? [init.S, init.z] : [])]) {
        if (moved.has(t)) continue;
        const d = await toDeviceAsync(t, device, signal);
        moved.set(t, d);
        temps.push(d);
      }
    }
    const { args, outputs } = deviceCall(p, device, deviceInputs(p, device, temps, (t) => moved.get(t) ?? t));
    try {
      await nativeCall(signal, (token) => cuda.cudaLinearAttention(args, token));
    } catch (e) {
      disposeOutputs(outputs);
      rethrow(e);
    }
    return p.device === 'cpu' ? hostOutputs(outputs, temps) : outputs;
  } finally {
    for (const t of temps) t.dispose();
  }
}
