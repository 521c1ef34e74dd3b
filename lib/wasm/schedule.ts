/**
 * The sizes of one attention call's work: how many work items, split rows (split-KV) and partial
 * results the module's cut makes of it for `threads` threads. The cut is native/cpu/schedule_cut.h,
 * the one the native backend cuts a call with for its thread pool; the module counts here, before
 * the call's arena is laid out, and writes the items into the arena when it checks the call.
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
  const at = e.heap.alloc(rowBytes + 12);
  try {
    new Int32Array(e.memory.buffer, at, mask.rowPtr.length).set(mask.rowPtr);
    const out = at + rowBytes;
    const rc = e.exports.af_attention_count_work(at, mask.rowPtr.length, s.B, s.Hq, s.Hkv, s.Sq, mask.heads, mask.numQBlocks, threads, out);
    if (rc !== 0) throw new Error('wasm backend: the module cannot cut this call into work items (inconsistent shapes or mask)');
    const [items, merges, slots] = new Int32Array(e.memory.buffer, out, 3);
    return { items, merges, slots };
  } finally {
    e.heap.release(at);
  }
}
