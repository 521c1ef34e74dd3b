/** Test helper: a BlockMask expanded back into a dense grid, with its layout invariants checked. */
import { expect } from 'vitest';
import type { BlockMask } from '../../lib/mask/blockmask.js';

/**
 * Expands a BlockMask back into a dense seqQ × seqK grid for one head, checking the layout
 * invariants on the way: ascending key blocks, no empty tile, partial tiles mixed, no bit outside
 * the sequence bounds. (Plain checks in the loops: `expect` per element would be slow.)
 */
/** With `queryHeads`, `head` is a query head and reads row ⌊head / (queryHeads / m.heads)⌋, as the backends do. */
export function expandMask(m: BlockMask, head: number, queryHeads?: number): Uint8Array {
  const { seqQ, seqK, blockQ, blockK, numQBlocks, numKBlocks, wordsPerRow, rowPtr, colIdx, partial, bits } = m;
  const fail = (what: string): never => {
    throw new Error(`bad BlockMask: ${what}`);
  };
  expect(wordsPerRow).toBe(Math.ceil(blockK / 32));
  expect(numQBlocks).toBe(Math.ceil(seqQ / blockQ));
  expect(numKBlocks).toBe(Math.ceil(seqK / blockK));
  expect(rowPtr.length).toBe(m.heads * numQBlocks + 1);
  expect(rowPtr[0]).toBe(0);
  expect(rowPtr[rowPtr.length - 1]).toBe(colIdx.length);
  expect(partial.length).toBe(colIdx.length);
  expect(bits.length % (blockQ * wordsPerRow)).toBe(0);
  const numTiles = bits.length / (blockQ * wordsPerRow);
  const h = m.heads === 1 ? 0 : queryHeads !== undefined ? Math.floor(head / (queryHeads / m.heads)) : head;
  if (h >= m.heads) fail(`head ${h} ≥ heads ${m.heads}`);
  const out = new Uint8Array(seqQ * seqK);
  for (let qb = 0; qb < numQBlocks; qb++) {
    const r = h * numQBlocks + qb;
    if (rowPtr[r + 1] < rowPtr[r]) fail(`rowPtr decreases at row ${r}`);
    for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) {
      const kb = colIdx[e];
      if (kb < 0 || kb >= numKBlocks) fail(`key block ${kb} out of range`);
      if (e > rowPtr[r] && kb <= colIdx[e - 1]) fail(`key blocks not ascending in row ${r}`);
      const t = partial[e];
      if (t < -1 || t >= numTiles) fail(`bit tile ${t} out of range`);
      let set = 0;
      let inRange = 0;
      for (let rr = 0; rr < blockQ; rr++) {
        for (let c = 0; c < blockK; c++) {
          const i = qb * blockQ + rr;
          const j = kb * blockK + c;
          const ok = i < seqQ && j < seqK;
          const bit = t < 0 ? ok : ((bits[(t * blockQ + rr) * wordsPerRow + (c >> 5)] >>> (c & 31)) & 1) === 1;
          if (!ok) {
            if (bit) fail(`bit outside the sequence bounds (row ${r}, tile ${kb})`);
            continue;
          }
          inRange++;
          if (bit) {
            set++;
            out[i * seqK + j] = 1;
          }
        }
      }
      if (set === 0) fail(`stored tile without an allowed pair (row ${r}, tile ${kb})`);
      if (t >= 0 && set === inRange) fail(`partial tile with every pair allowed (row ${r}, tile ${kb})`);
    }
  }
  return out;
}
