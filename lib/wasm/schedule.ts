/**
 * The work items of one attention call, cut as native/cpu/forward.cpp cuts them for its pool:
 * (batch, query head, query tile) rows of the BlockMask, grouped by (batch, kv head) so threads
 * share that head's K/V, largest first within a group; the heads of a GQA group packed into one
 * item when they share the mask and their queries fit one tile (decoding); and, when there are too
 * few items for the threads, rows split into chunks of key tiles (split-KV) whose partial results a
 * second phase merges. Items are 7 int32 (b, h, qb, ng, e0, e1, slot); split rows to merge are an
 * item (its first partial slot) and the number of parts.
 */
import type { BlockMask } from '../mask/blockmask.js';

export interface AttentionWork {
  items: Int32Array;
  itemCount: number;
  merges: Int32Array;
  mergeCount: number;
  partialSlots: number;
}

export interface WorkShape {
  B: number;
  Hq: number;
  Hkv: number;
  Sq: number;
  /** the tile's query rows (the CPU kernel's kBQ) */
  blockQ: number;
}

export function attentionWork(s: WorkShape, mask: BlockMask, threads: number): AttentionWork {
  const { B, Hq, Hkv, Sq, blockQ } = s;
  const group = Hq / Hkv;
  const nqb = mask.numQBlocks;
  const shared = mask.heads === 1;
  const row = (h: number, qb: number) => (shared ? 0 : h) * nqb + qb;

  let totalTiles = 0;
  for (let r = 0; r < (shared ? 1 : Hq) * nqb; r++) totalTiles += mask.rowPtr[r + 1] - mask.rowPtr[r];
  totalTiles *= B * (shared ? Hq : 1);

  let ng = 1;
  if (group > 1 && shared && nqb === 1 && 2 * Sq <= blockQ) ng = Math.min(group, Math.floor(blockQ / Sq));
  const packedRows = B * Hkv * nqb * Math.ceil(group / ng);

  let chunk = Infinity; // tiles per item
  if (threads > 1 && packedRows < 4 * threads) {
    chunk = Math.max(4, Math.ceil(Math.floor(totalTiles / ng) / (4 * threads)));
  }

  const items: number[][] = [];
  const cost: number[] = [];
  const merges: number[] = [];
  let slots = 0;
  for (let b = 0; b < B; b++)
    for (let hk = 0; hk < Hkv; hk++)
      for (let qb = 0; qb < nqb; qb++)
        for (let g = 0; g < group; g += ng) {
          const h = hk * group + g;
          const ngHere = Math.min(ng, group - g);
          const e0 = mask.rowPtr[row(h, qb)];
          const e1 = mask.rowPtr[row(h, qb) + 1];
          const n = e1 - e0;
          const nq = Math.min(blockQ, Sq - qb * blockQ) * ngHere;
          if (n <= chunk) {
            items.push([b, h, qb, ngHere, e0, e1, -1]);
            cost.push(n * (nq + 8) + 1);
          } else {
            const parts = Math.ceil(n / chunk);
            merges.push(b, h, qb, ngHere, e0, e1, slots, parts);
            for (let p = 0; p < parts; p++) {
              const a = e0 + Math.floor((n * p) / parts);
              const z = e0 + Math.floor((n * (p + 1)) / parts);
              items.push([b, h, qb, ngHere, a, z, slots++]);
              cost.push((z - a) * (nq + 8) + 1);
            }
          }
        }

  // (batch, kv head) groups in order; within one, the costliest first (stable).
  const kvGroup = (i: number) => items[i][0] * Hkv + Math.floor(items[i][1] / group);
  const order = items.map((_, i) => i).sort((x, y) => kvGroup(x) - kvGroup(y) || cost[y] - cost[x] || x - y);
  const packed = new Int32Array(7 * items.length);
  order.forEach((i, at) => packed.set(items[i], 7 * at));
  return { items: packed, itemCount: items.length, merges: Int32Array.from(merges), mergeCount: merges.length / 8, partialSlots: slots };
}
