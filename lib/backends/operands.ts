/**
 * Shared plumbing between the plans and the backends: operand views, the output tensors, and the
 * host-memory argument object of a linear-attention call (which the CPU kernel and the host path
 * of the CUDA scan both take).
 */
import type { AttentionPlan, Operand } from '../attention/plan.js';
import { LINEAR_CHUNK } from '../linear/reference.js';
import { outputShape, type LinearPlan } from '../linear/plan.js';
import type { NativeLinearArgs } from '../native/bindings.js';
import { DECAY_CODE, FEATURE_CODE, hostView } from '../native/views.js';
import type { OperandView } from '../reference/problem.js';
import { Tensor } from '../tensor.js';

export function operandView(o: Operand): OperandView {
  return {
    data: o.tensor.data,
    dtype: o.tensor.dtype,
    batch: o.batch,
    heads: o.heads,
    seq: o.seq,
    headDim: o.headDim,
    strides: o.strides,
    offset: 0,
  };
}

/** The output tensor (options.out or a new one shaped and laid out like q) and the lse tensor. */
export function allocateOutputs(plan: AttentionPlan): { out: Tensor; lse: Tensor } {
  const q = plan.q;
  const out = plan.out ?? Tensor.zeros(q.tensor.shape, { dtype: plan.dtype, layout: q.layout });
  const lse = Tensor.zeros([q.batch, q.heads, q.seq], { dtype: 'float32' });
  return { out, lse };
}

/** What a backend returns for an attention plan: the output, and the lse where it was computed. */
export interface AttentionOutputs {
  out: Tensor;
  /** float32 [batch, heads, seqQ]; null where the plan did not ask for it and the backend skipped it */
  lse: Tensor | null;
  /** float32 [batch, kvHeads, seqK] with returnKeyMass */
  keyMass?: Tensor;
}

/** What a backend returns for a linear-attention plan: the output, and the final state when asked for. */
export interface LinearOutputs {
  out: Tensor;
  S: Tensor | null;
  z: Tensor | null;
}

/** A host view of a linear operand (any geometry the plan resolved). */
function linearView(o: Operand) {
  return hostView(o, o.tensor.data, o.tensor.dtype);
}

/** The native linear-attention call of a plan on host memory, and the new outputs it writes. */
export function linearHostCall(p: LinearPlan): { args: NativeLinearArgs; outputs: LinearOutputs } {
  const out = Tensor.zeros(outputShape(p), { dtype: p.dtype, layout: p.layout });
  const [o0, o1, o2] = out.strides;
  const outStrides: [number, number, number, number] = p.layout === 'bhsd' ? [o0, o1, o2, 1] : [o0, o2, o1, 1];
  const S = p.returnState ? Tensor.zeros([p.batch, p.heads, p.df, p.dv]) : null;
  const z = p.returnState ? Tensor.zeros([p.batch, p.heads, p.df]) : null;
  const d = p.decay;
  const args: NativeLinearArgs = {
    q: linearView(p.q),
    k: linearView(p.k),
    v: linearView(p.v),
    out: hostView({ batch: p.batch, heads: p.heads, seq: p.seq, headDim: p.dv, strides: outStrides }, out.data, p.dtype),
    featureMap: FEATURE_CODE[p.featureMap.kind],
    favorWeights: p.featureMap.kind === 'favor' ? p.featureMap.weights : null,
    features: p.featureMap.kind === 'favor' ? p.featureMap.features : 0,
    decay: DECAY_CODE[d.kind],
    decayHead: d.kind === 'head' ? d.gammas : null,
    gates: d.kind === 'step' || d.kind === 'stepDim' ? d.data : null,
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

/** Runs a plan through a native linear-attention entry point that takes host memory. */
export function runLinearHostSync(p: LinearPlan, entry: (args: NativeLinearArgs) => void): LinearOutputs {
  const { args, outputs } = linearHostCall(p);
  entry(args);
  return outputs;
}

/** runLinearHostSync() through an entry point that runs off the event loop. */
export async function runLinearHost(p: LinearPlan, entry: (args: NativeLinearArgs) => Promise<void>): Promise<LinearOutputs> {
  const { args, outputs } = linearHostCall(p);
  await entry(args);
  return outputs;
}
