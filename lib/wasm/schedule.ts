/**
 * The sizes of one attention call's work: how many work items, split rows (split-KV) and partial
 * results the module's cut makes of it for `threads` threads. The cut is native/cpu/schedule_cut.h,
 * the one the native backend cuts a call with for its thread pool; the module counts here, before
 * the call's arena is laid out, and writes the items into the arena when it checks the call. The
 * key-mass records and RoPE tables are sized the same way: by the module, before the layout.
 */
import type { BlockMask } from '../mask/blockmask.js';
import type { WasmExports } from './exec.js';
import type { WasmHeap } from './heap.js';

/** Bytes of one work item (7 int32: b, h, qb, ng, e0, e1, slot) and of one split row (an item and its part count). */
export const ITEM_BYTES = 28;
export const MERGE_BYTES = 32;

export interface WorkCounts {
  items: number;
  merges: number;
  /** partial results (one per part of a split row) */
  slots: number;
  /** floats of the key-mass records of split rows' items, and of the largest other item's (one per thread) */
  massParts: number;
  massScratch: number;
}

export interface WorkShape {
  B: number;
  Hq: number;
  Hkv: number;
  Sq: number;
}

/** What counting needs of the engine: the module on the calling thread, its memory and heap. */
export interface CountingEngine {
  readonly exports: WasmExports;
  readonly memory: WebAssembly.Memory;
  readonly heap: WasmHeap;
}

export function countWork(e: CountingEngine, s: WorkShape, mask: BlockMask, threads: number): WorkCounts {
  const rowBytes = mask.rowPtr.byteLength;
  const at = e.heap.alloc(rowBytes + 20);
  try {
    new Int32Array(e.memory.buffer, at, mask.rowPtr.length).set(mask.rowPtr);
    const out = at + rowBytes;
    const rc = e.exports.af_attention_count_work(at, mask.rowPtr.length, s.B, s.Hq, s.Hkv, s.Sq, mask.heads, mask.numQBlocks, threads, out);
    if (rc !== 0) throw new Error('wasm backend: the module cannot cut this call into work items (inconsistent shapes or mask)');
    const [items, merges, slots, massParts, massScratch] = new Int32Array(e.memory.buffer, out, 5);
    return { items, merges, slots, massParts, massScratch };
  } finally {
    e.heap.release(at);
  }
}

/** The positions of a call, as the module's record takes them (native/core/call.h). */
export interface CallPositions {
  Sq: number;
  Sk: number;
  Hkv: number;
  /** query i at shift + i unless qpos */
  shift: number;
  qpos: Int32Array | null;
  /** key (hk, j) at kpos[hk * kposStride + j] (kposStride: Sk, or 0 for one list) */
  kpos: Int32Array | null;
  kposStride: number;
}

/** Floats of each RoPE table of a call rotating `dims` dimensions (the module's rule: plan_rules.h). */
export function ropeFloats(e: CountingEngine, p: CallPositions, dims: number): number {
  const qBytes = p.qpos?.byteLength ?? 0;
  const kBytes = p.kpos?.byteLength ?? 0;
  const at = e.heap.alloc(qBytes + kBytes + 8);
  try {
    if (p.qpos) new Int32Array(e.memory.buffer, at, p.qpos.length).set(p.qpos);
    if (p.kpos) new Int32Array(e.memory.buffer, at + qBytes, p.kpos.length).set(p.kpos);
    const floats = e.exports.af_attention_rope_floats(p.qpos ? at : 0, p.kpos ? at + qBytes : 0, p.kpos?.length ?? 0, p.kposStride, p.Sq, p.Sk, p.Hkv, p.shift, dims);
    if (floats === 0) throw new RangeError('wasm backend: the RoPE tables of this call do not fit in WebAssembly memory; use the native backend');
    return floats;
  } finally {
    e.heap.release(at);
  }
}
