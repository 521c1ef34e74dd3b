/**
 * The BlockMask a native backend runs for a plan: the compiled (cached) mask for the default
 * geometry, or one built at run time for explicit positions, top-left alignment or a selection.
 */
import type { BlockMask } from '../mask/blockmask.js';
import { compileMask } from '../mask/index.js';
import { buildRuntimeMask } from '../mask/runtime.js';
import { defaultGeometry } from '../positions.js';
import type { Selection } from '../select/selection.js';
import type { AttentionPlan } from '../attention/plan.js';

/** Whether the plan's mask must be built at run time. */
export function needsRuntimeMask(plan: AttentionPlan, selection: Selection | null): boolean {
  return selection !== null || !defaultGeometry(plan.positions, plan.q.seq, plan.k.seq);
}

/** The mask of a plan for a tile shape (for batch element `b` when a selection is given). */
export function planMask(plan: AttentionPlan, tile: { blockQ: number; blockK: number }, selection: Selection | null, b = 0): BlockMask {
  if (!needsRuntimeMask(plan, selection)) {
    return compileMask(plan.pattern, { seqQ: plan.q.seq, seqK: plan.k.seq, heads: plan.q.heads, blockQ: tile.blockQ, blockK: tile.blockK });
  }
  return buildRuntimeMask(plan.pattern, {
    seqQ: plan.q.seq,
    seqK: plan.k.seq,
    heads: plan.q.heads,
    kvHeads: plan.k.heads,
    blockQ: tile.blockQ,
    blockK: tile.blockK,
    positions: plan.positions,
    selection,
    batchIndex: b,
  });
}
