/** Query-aware block selection (option `select`). */
import { operandView } from '../backends/operands.js';
import type { AddonBindings as NativeAddon } from '../native/bindings.js';
import type { AttentionPlan, Operand } from '../attention/plan.js';
import type { OperandView } from '../reference/problem.js';
import { selectBlocks, type KeyBlockBounds } from './quest.js';
import type { Selection } from './selection.js';

export type { Selection } from './selection.js';
export { selectBlocks, keyBlockBounds, type KeyBlockBounds } from './quest.js';

/** A host view of a (possibly device) operand: device elements are copied back once. */
function hostView(o: Operand): OperandView {
  if (o.tensor.device === 'cpu') return operandView(o);
  return operandView({ ...o, tensor: o.tensor.to('cpu') });
}

/** The geometry of an operand whose elements selectBlocks does not read (the bounds are given). */
function geometryOnly(o: Operand): OperandView {
  const { batch, heads, seq, headDim, strides } = o;
  return { data: new Float32Array(0), dtype: 'float32', batch, heads, seq, headDim, strides, offset: 0 };
}

/**
 * The selection of a plan with `select` (null without): computed on the host from q and k (their
 * block bounds in one pass over k, unless a KV cache supplies them). For device tensors the
 * selection still runs on the host: q is copied back (small: the query rows of one call), and k
 * too unless bounds are given — one device-to-host copy of all keys per call (seqK·headDim
 * elements per batch element and kv head), which a KVCache avoids by keeping the bounds itself.
 */
export function planSelection(plan: AttentionPlan, bounds?: KeyBlockBounds, native: NativeAddon | null = null): Selection | null {
  if (plan.select === null) return null;
  // with bounds given, k's elements are never read (only its geometry)
  const k = bounds === undefined ? hostView(plan.k) : geometryOnly(plan.k);
  return selectBlocks(
    {
      q: hostView(plan.q),
      k,
      pattern: plan.pattern,
      rope: plan.rope,
      positions: plan.positions,
      blocks: plan.select.blocks,
      blockSize: plan.select.blockSize,
    },
    bounds,
    native,
  );
}
