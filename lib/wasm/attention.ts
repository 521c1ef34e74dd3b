/**
 * One attention call as a wasm arena: the operands and the BlockMask (compiled, or built at run
 * time for explicit positions, top-left alignment or a selection, as for the native CPU backend)
 * copied in, the options and positions as the native binding passes them (the module resolves the
 * scores as native/core does, completes the plan with native/cpu/plan_rules.h and builds the RoPE
 * tables in its first phase), the sizes of the work and key-mass records the module cuts for the
 * threads that will run it, and the output, lse and key masses copied back.
 */
import { Tensor } from '../tensor.js';
import type { BlockMask } from '../mask/blockmask.js';
import type { AttentionPlan, Operand } from '../attention/plan.js';
import { allocateOutputs, type AttentionOutputs } from '../backends/operands.js';
import { planMask } from '../backends/masks.js';
import type { Selection } from '../select/selection.js';
import { ArenaBuilder, type Arena, type RecordLayout } from './layout.js';
import { ITEM_BYTES, MERGE_BYTES, type CallPositions, type WorkCounts, type WorkShape } from './schedule.js';

const DTYPE_CODE = { float32: 0, float16: 1, bfloat16: 2 } as const;

/** Elements of `data` that batch element b of operand `o` reaches: [start, end). */
function batchSpan(o: Operand, b: number): [number, number] {
  const [, s1, s2, s3] = o.strides;
  const reach = o.heads === 0 || o.seq === 0 || o.headDim === 0 ? 0 : 1 + (o.heads - 1) * s1 + (o.seq - 1) * s2 + (o.headDim - 1) * s3;
  return [b * o.strides[0], b * o.strides[0] + reach];
}

/** Operand `o` (stored in `data`) in the record: all of it, or only batch element `b`. */
function operand(a: ArenaBuilder, name: string, o: Operand, data: Float32Array | Uint16Array, b: number | null, output = false): void {
  const part = b === null ? data : data.subarray(...batchSpan(o, b));
  if (output) a.output(name, part);
  else a.input(name, part);
  o.strides.forEach((s, i) => a.set(`${name}S${i}`, s));
}

/** What the module says of its kernels: the tile, the lanes, the floats of one split row's partial result and of a RoPE table. */
export interface AttentionKernelFacts {
  tile: { blockQ: number; blockK: number };
  lanes: number;
  partialFloats(headDim: number): number;
  ropeFloats(positions: CallPositions, dims: number): number;
  /** the sizes of a call's work cut for `threads` threads (schedule.ts) */
  countWork(shape: WorkShape, mask: BlockMask, threads: number): WorkCounts;
}

/**
 * The arenas of a plan, its work cut for `threads` threads: one for the whole batch, or one per
 * batch element with a selection (its mask differs between batch elements, as lib/backends/cpu.ts
 * makes one native call per batch element); none when there is nothing to compute (no batch or no
 * query). With the outputs the arenas write (keyMass with returnKeyMass).
 */
export function attentionArenas(plan: AttentionPlan, layout: RecordLayout, kernel: AttentionKernelFacts, threads: number, selection: Selection | null): { arenas: Arena[]; result: AttentionOutputs } {
  const { q, k } = plan;
  const { out, lse } = allocateOutputs(plan);
  const keyMass = plan.returnKeyMass ? Tensor.zeros([k.batch, k.heads, k.seq], { dtype: 'float32' }) : null;
  const result: AttentionOutputs = keyMass === null ? { out, lse } : { out, lse, keyMass };
  if (q.batch === 0 || q.seq === 0) return { arenas: [], result };
  const perBatch = selection !== null;
  const arenas: Arena[] = [];
  for (let b = 0; b < (perBatch ? q.batch : 1); b++) {
    arenas.push(arenaOf(plan, layout, kernel, threads, { out, lse, keyMass }, planMask(plan, kernel.tile, selection, b), perBatch ? b : null));
  }
  return { arenas, result };
}

function arenaOf(plan: AttentionPlan, layout: RecordLayout, kernel: AttentionKernelFacts, threads: number, o: { out: Tensor; lse: Tensor; keyMass: Tensor | null }, mask: BlockMask, b: number | null): Arena {
  const { q, k, v } = plan;
  const a = new ArenaBuilder('attention', layout);
  const D = q.headDim;
  const B = b === null ? q.batch : 1;
  a.set('B', B).set('Hq', q.heads).set('Hkv', k.heads).set('Sq', q.seq).set('Sk', k.seq).set('D', D);
  a.set('dtype', DTYPE_CODE[plan.dtype]);
  operand(a, 'q', q, q.tensor.data, b);
  operand(a, 'k', k, k.tensor.data, b);
  operand(a, 'v', v, v.tensor.data, b);
  operand(a, 'out', q, o.out.data, b, true);
  const rows = q.heads * q.seq;
  a.output('lse', b === null ? o.lse.data : (o.lse.data as Float32Array).subarray(b * rows, (b + 1) * rows));

  a.input('rowPtr', mask.rowPtr);
  a.input('colIdx', mask.colIdx);
  a.input('partial', mask.partial);
  a.input('bits', mask.bits);
  a.set('maskHeads', mask.heads).set('numQBlocks', mask.numQBlocks).set('numKBlocks', mask.numKBlocks).set('wordsPerRow', mask.wordsPerRow);

  // The module derives the log2-unit scores and slopes as native/core does for a native call, from
  // the float32 slopes a native call receives.
  a.set('scale', plan.scale).set('softcap', plan.softcap);
  if (plan.alibiSlopes) a.input('alibi', Float32Array.from(plan.alibiSlopes));

  // Positions as the native binding passes them (native/core/resolve.cpp): one key list for every
  // kv head (stride 0) or one per head (stride seqK).
  const { queryPositions, keyPositions, queryStart } = plan.positions;
  const positions: CallPositions = {
    Sq: q.seq,
    Sk: k.seq,
    Hkv: k.heads,
    shift: queryStart,
    qpos: queryPositions,
    kpos: keyPositions,
    kposStride: keyPositions !== null && keyPositions.length === k.heads * k.seq ? k.seq : 0,
  };
  a.set('shift', positions.shift).set('kposStride', positions.kposStride);
  if (queryPositions) a.input('qpos', queryPositions);
  if (keyPositions) a.input('kpos', keyPositions);

  if (plan.rope) {
    // tables for the positions plan_rules.h says, built by the call's first phase (their rows for
    // explicit positions when the call is checked); the module decides (as native/cpu/plan.cpp
    // does) which K/V tiles are read in place
    const r = plan.rope;
    a.set('rope', true).set('ropeInterleaved', r.style === 'interleaved').set('ropeDims', r.dims);
    a.set('ropeBase', r.base).set('ropeOffset', r.offset);
    const bytes = 4 * kernel.ropeFloats(positions, r.dims);
    a.workspace('ropeCos', bytes);
    a.workspace('ropeSin', bytes);
    if (queryPositions || keyPositions) {
      a.workspace('ropeRowQ', 4 * q.seq);
      a.workspace('ropeRowK', 4 * k.heads * k.seq);
    }
  }

  // The module cuts the work (native/cpu/schedule_cut.h) into these regions when it checks the call.
  const work = kernel.countWork({ B, Hq: q.heads, Hkv: k.heads, Sq: q.seq }, mask, threads);
  a.set('threads', threads);
  a.workspace('items', work.items * ITEM_BYTES);
  a.set('itemCount', work.items);
  a.workspace('merges', work.merges * MERGE_BYTES);
  a.set('mergeCount', work.merges);
  a.workspace('partials', work.slots * kernel.partialFloats(D) * 4);
  a.set('partialSlots', work.slots);

  if (o.keyMass) {
    // zeroed by the module when it checks the call; split rows keep their records until merged
    const per = k.heads * k.seq;
    a.output('keyMass', b === null ? o.keyMass.data : (o.keyMass.data as Float32Array).subarray(b * per, (b + 1) * per));
    a.workspace('massParts', 4 * work.massParts);
    a.workspace('massOffsets', 8 * work.slots);
    a.set('massScratch', work.massScratch);
  }
  return a.finish([plan.rope ? plan.rope.dims / 2 : 0, work.items, work.merges], D);
}
