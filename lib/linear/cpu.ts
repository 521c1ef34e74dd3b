/**
 * The native CPU backend of linear attention through native/binding/linear.cpp (native/cpu/linear*.cpp).
 * The CUDA backend is in cuda.ts.
 */
import type { DType } from '../dtypes.js';
import { loadNative, type NativeView } from '../native.js';
import { Tensor } from '../tensor.js';
import { FEATURE_CODE } from './features.js';
import { LINEAR_CHUNK } from './reference.js';
import { DECAY_CODE, outputShape, type LinearOperand, type LinearPlan } from './validate.js';

/** The argument object of the native linear-attention entry points. */
export interface NativeLinearArgs {
  q: NativeView;
  k: NativeView;
  v: NativeView;
  /** logical [B, Hq, N, Dv] view of the output */
  out: NativeView;
  featureMap: 0 | 1 | 2 | 3;
  favorWeights: Float32Array | null;
  features: number;
  decay: 0 | 1 | 2 | 3;
  decayHead: Float32Array | null;
  gates: Float32Array | null;
  gateStrides: [number, number, number, number];
  normalize: boolean;
  eps: number;
  initS: Float32Array | null;
  initZ: Float32Array | null;
  stateS: Float32Array | null;
  stateZ: Float32Array | null;
  chunk: number;
}

/** The native functions this module needs (registered by registerLinear in the addon). */
export interface NativeLinearAddon {
  linearAttentionSync?(args: NativeLinearArgs): void;
  linearAttention?(args: NativeLinearArgs): Promise<void>;
}

const DTYPE_CODE: Record<DType, 0 | 1 | 2> = { float32: 0, float16: 1, bfloat16: 2 };

function view(o: LinearOperand): NativeView {
  return { data: o.tensor.data, dtype: DTYPE_CODE[o.tensor.dtype], shape: [o.batch, o.heads, o.seq, o.headDim], strides: [...o.strides], offset: 0 };
}

/** The addon's linear-attention functions; throws if the loaded addon predates them. */
export function nativeLinear(): Required<NativeLinearAddon> {
  const addon = loadNative() as unknown as NativeLinearAddon;
  if (!hasNativeLinear(addon)) {
    throw new Error('attnflow: the loaded native addon has no linear attention (rebuild it: npx cmake-js compile)');
  }
  return addon as Required<NativeLinearAddon>;
}

/** Whether the loaded addon has the linear-attention entry points. */
export function hasNativeLinear(addon: unknown): boolean {
  const a = addon as NativeLinearAddon;
  return typeof a.linearAttentionSync === 'function' && typeof a.linearAttention === 'function';
}

export interface LinearOutputs {
  out: Tensor;
  S: Tensor | null;
  z: Tensor | null;
}

/** Builds the native call of a plan and the outputs it writes. */
export function cpuLinearCall(p: LinearPlan): { args: NativeLinearArgs; outputs: LinearOutputs } {
  const out = Tensor.zeros(outputShape(p), { dtype: p.dtype, layout: p.layout });
  const [o0, o1, o2] = out.strides;
  const outStrides: [number, number, number, number] = p.layout === 'bhsd' ? [o0, o1, o2, 1] : [o0, o2, o1, 1];
  const S = p.returnState ? Tensor.zeros([p.batch, p.heads, p.df, p.dv]) : null;
  const z = p.returnState ? Tensor.zeros([p.batch, p.heads, p.df]) : null;
  const d = p.decay;
  const args: NativeLinearArgs = {
    q: view(p.q),
    k: view(p.k),
    v: view(p.v),
    out: { data: out.data, dtype: DTYPE_CODE[p.dtype], shape: [p.batch, p.heads, p.seq, p.dv], strides: outStrides, offset: 0 },
    featureMap: FEATURE_CODE[p.featureMap.kind],
    favorWeights: p.featureMap.kind === 'favor' ? p.featureMap.weights : null,
    features: p.featureMap.kind === 'favor' ? p.featureMap.features : 0,
    decay: DECAY_CODE[d.kind],
    decayHead: d.kind === 'head' ? d.gammas : null,
    gates: d.kind === 'step' || d.kind === 'stepDim' ? d.data : null, // host plans always have the data
    gateStrides: d.kind === 'step' ? [d.strides[0], d.strides[1], d.strides[2], 0] : d.kind === 'stepDim' ? [...d.strides] : [0, 0, 0, 0],
    normalize: p.normalize,
    eps: p.eps,
    initS: p.initialState ? (p.initialState.S.data as Float32Array) : null,
    initZ: p.initialState ? (p.initialState.z.data as Float32Array) : null,
    stateS: S ? (S.data as Float32Array) : null,
    stateZ: z ? (z.data as Float32Array) : null,
    chunk: LINEAR_CHUNK,
  };
  return { args, outputs: { out, S, z } };
}

export function runLinearCpuSync(p: LinearPlan): LinearOutputs {
  const { args, outputs } = cpuLinearCall(p);
  nativeLinear().linearAttentionSync(args);
  return outputs;
}

export async function runLinearCpu(p: LinearPlan): Promise<LinearOutputs> {
  const { args, outputs } = cpuLinearCall(p);
  await nativeLinear().linearAttention(args);
  return outputs;
}
