/** Query-aware block selection (option `select`). */
import { operandView } from '../backends/operands.js';
import type { AddonBindings as NativeAddon } from '../native/bindings.js';
import type { AttentionPlan } from '../attention/plan.js';
import { selectBlocks, type KeyBlockBounds } from './quest.js';
import type { Selection } from './selection.js';

export type { Selection } from './selection.js';
export { selectBlocks, keyBlockBounds, type KeyBlockBounds } from './quest.js';

/**
 * The selection of a plan with `select` (null without): computed on the host from q and k (their
 * block bounds in one pass over k, unless a KV cache supplies them).
 */
export function planSelection(plan: AttentionPlan, bounds?: KeyBlockBounds, native: NativeAddon | null = null): Selection | null {
  if (plan.select === null) return null;
  if (plan.q.tensor.device !== 'cpu') {
    throw new RangeError(`options.select runs on host tensors; q, k and v are on ${plan.q.tensor.device}`);
  }
  return selectBlocks(
    {
      q: operandView(plan.q),
      k: operandView(plan.k),
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
