/**
 * One attention call as a wasm arena: the operands and the BlockMask copied in, the options
 * resolved as native/cpu/forward.cpp resolves them (scores in log2 units, ALiBi slopes, which K/V
 * tiles are read in place; the RoPE tables are the call's first phase, in the module), the work
 * items cut for the threads that will run it, and the output and lse copied back.
 */
import { compileMask } from '../mask/index.js';
import type { Tensor } from '../tensor.js';
import type { AttentionPlan, Operand } from '../attention/plan.js';
import { allocateOutputs } from '../backends/operands.js';
import { ArenaBuilder, type Arena, type RecordLayout } from './layout.js';
import { attentionWork } from './schedule.js';

const LOG2E = 1.4426950408889634;
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
/** What the module says of its kernels: the tile, the lanes, the floats of one split row's partial result. */
export interface AttentionKernelFacts {
  tile: { blockQ: number; blockK: number };
  lanes: number;
  partialFloats(headDim: number): number;
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

  // The module derives the log2-unit scores from scale and softcap as native/cpu/forward.cpp does;
  // ALiBi slopes in log2 units from the float32 slopes a native call receives (alibiLog2).
  a.set('scale', plan.scale).set('softcap', plan.softcap);
  if (plan.alibiSlopes) a.input('alibi2', Float32Array.from(plan.alibiSlopes, (s) => Math.fround(s) * LOG2E));

  const shift = k.seq - q.seq;
  if (plan.rope) {
    // tables for positions [lo, Sk), built by the call's first phase
    const lo = Math.min(0, shift);
    const r = plan.rope;
    a.set('rope', true).set('ropeInterleaved', r.style === 'interleaved').set('ropeDims', r.dims).set('ropeLo', lo);
    a.set('ropeBase', r.base).set('ropeOffset', r.offset);
    const bytes = 4 * (k.seq - lo) * (r.dims / 2);
    a.workspace('ropeCos', bytes);
    a.workspace('ropeSin', bytes);
  }
  // float32 K/V with unit headDim stride are read in place, except when each tile is used once
  // (one query tile: decoding), where a sequential copy reads memory faster (forward.cpp).
  const f32 = plan.dtype === 'float32';
  const reuse = mask.numQBlocks > 1;
  a.set('kDirect', f32 && !plan.rope && k.strides[3] === 1 && reuse);
  a.set('vDirect', f32 && v.strides[3] === 1 && D % kernel.lanes === 0 && reuse);

  const work = attentionWork({ B: q.batch, Hq: q.heads, Hkv: k.heads, Sq: q.seq, blockQ: tile.blockQ }, mask, threads);
  a.input('items', work.items);
  a.set('itemCount', work.itemCount);
  a.input('merges', work.merges);
  a.set('mergeCount', work.mergeCount);
  a.workspace('partials', work.partialSlots * kernel.partialFloats(D) * 4);
  a.set('partialSlots', work.partialSlots);
  return { arena: a.finish([plan.rope ? plan.rope.dims / 2 : 0, work.itemCount, work.mergeCount], D), out, lse };
}
