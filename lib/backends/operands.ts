/** Shared plumbing between the plan and the backends: operand views and the output tensors. */
import type { OperandView } from '../reference/problem.js';
import { Tensor } from '../tensor.js';
import type { AttentionPlan, Operand } from '../validate.js';

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

/** What a backend returns: the output, the lse and, when asked for, the key masses. */
export interface BackendResult {
  out: Tensor;
  lse: Tensor;
  /** float32 [batch, kvHeads, seqK] */
  keyMass?: Tensor;
}
