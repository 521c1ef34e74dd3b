/**
 * One attention call as a wasm arena: the operands and the BlockMask copied in, the options as
 * the native binding passes them (the module resolves the scores as native/core does, completes the
 * plan with native/cpu/plan_rules.h and builds the RoPE tables in its first phase), the sizes of
 * the work the module cuts for the threads that will run it, and the output and lse copied back.
 */
import { compileMask } from '../mask/index.js';
import type { Tensor } from '../tensor.js';
import type { BlockMask } from '../mask/blockmask.js';
import type { AttentionPlan, Operand } from '../attention/plan.js';
import { allocateOutputs } from '../backends/operands.js';
import { ArenaBuilder, type Arena, type RecordLayout } from './layout.js';
import { ITEM_BYTES, MERGE_BYTES, type WorkCounts, type WorkShape } from './schedule.js';

const DTYPE_CODE = { float32: 0, float16: 1, bfloat16: 2 } as const;

function operand(a: ArenaBuilder, name: string, o: Operand, t: Tensor = o.tensor, output = false): void {
  if (output) a.output(name, t.data);
  else a.input(name, t.data);
  o.strides.forEach((s, i) => a.set(`${name}S${i}`, s));
}

/**
 * The arena of a plan, its work cut for `threads` threads; null when there is nothing to compute
 * (no batch or no query), with the (empty) outputs.
 */
/** What the module says of its kernels: the tile, the lanes, the floats of one split row's partial result and of a RoPE table. */
export interface AttentionKernelFacts {
  tile: { blockQ: number; blockK: number };
  lanes: number;
  partialFloats(headDim: number): number;
  ropeFloats(seqQ: number, seqK: number, dims: number): number;
  /** the sizes of a call's work cut for `threads` threads (schedule.ts) */
  countWork(shape: WorkShape, mask: BlockMask, threads: number): WorkCounts;
}

export function attentionArena(plan: AttentionPlan, layout: RecordLayout, kernel: AttentionKernelFacts, threads: number): { arena: Arena | null; out: Tensor; lse: Tensor } {
  const tile = kernel.tile;
  const { q, k, v } = plan;
  const mask = compileMask(plan.pattern, { seqQ: q.seq, seqK: k.seq, heads: q.heads, blockQ: tile.blockQ, blockK: tile.blockK });
  const { out, lse } = allocateOutputs(plan);
  if (q.batch === 0 || q.seq === 0) return { arena: null, out, lse };

  const a = new ArenaBuilder('attention', layout);
  const D = q.headDim;
  a.set('B', q.batch).set('Hq', q.heads).set('Hkv', k.heads).set('Sq', q.seq).set('Sk', k.seq).set('D', D);
  a.set('dtype', DTYPE_CODE[plan.dtype]);
  operand(a, 'q', q);
  operand(a, 'k', k);
  operand(a, 'v', v);
  operand(a, 'out', q, out, true);
  a.output('lse', lse.data);

  a.input('rowPtr', mask.rowPtr);
  a.input('colIdx', mask.colIdx);
  a.input('partial', mask.partial);
  a.input('bits', mask.bits);
  a.set('maskHeads', mask.heads).set('numQBlocks', mask.numQBlocks).set('numKBlocks', mask.numKBlocks).set('wordsPerRow', mask.wordsPerRow);

  // The module derives the log2-unit scores and slopes as native/core does for a native call, from
  // the float32 slopes a native call receives.
  a.set('scale', plan.scale).set('softcap', plan.softcap);
  if (plan.alibiSlopes) a.input('alibi', Float32Array.from(plan.alibiSlopes));

  if (plan.rope) {
    // tables for the positions plan_rules.h says, built by the call's first phase; the module
    // decides (as native/cpu/plan.cpp does) which K/V tiles are read in place
    const r = plan.rope;
    a.set('rope', true).set('ropeInterleaved', r.style === 'interleaved').set('ropeDims', r.dims);
    a.set('ropeBase', r.base).set('ropeOffset', r.offset);
    const bytes = 4 * kernel.ropeFloats(q.seq, k.seq, r.dims);
    a.workspace('ropeCos', bytes);
    a.workspace('ropeSin', bytes);
  }

  // The module cuts the work (native/cpu/schedule_cut.h) into these regions when it checks the call.
  const work = kernel.countWork({ B: q.batch, Hq: q.heads, Hkv: k.heads, Sq: q.seq }, mask, threads);
  a.set('threads', threads);
  a.workspace('items', work.items * ITEM_BYTES);
  a.set('itemCount', work.items);
  a.workspace('merges', work.merges * MERGE_BYTES);
  a.set('mergeCount', work.merges);
  a.workspace('partials', work.slots * kernel.partialFloats(D) * 4);
  a.set('partialSlots', work.slots);
  return { arena: a.finish([plan.rope ? plan.rope.dims / 2 : 0, work.items, work.merges], D), out, lse };
}
