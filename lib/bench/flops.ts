/**
 * Work accounting. Attention FLOPs are counted on the edges a kernel must compute: each allowed
 * (query, key) pair costs one dot product for the score (2·D) and one axpy into the output (2·D),
 * so FLOPs = 4·B·H·D·(allowed pairs per head, summed). Softmax exponentials are not counted, as
 * in FlashAttention's accounting. "Dense-equivalent" FLOPs use all seqQ·seqK pairs.
 */
import type { BlockMask } from '../mask/blockmask.js';

export interface EdgeCount {
  /** allowed (query, key) pairs, summed over all heads */
  allowed: number;
  /** pairs inside visited tiles (clipped to the sequence bounds), summed over all heads */
  tileEdges: number;
  /** visited tiles, summed over all heads */
  tiles: number;
  /** visited tiles that need a bit mask, summed over all heads */
  partialTiles: number;
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Exact edge counts of a compiled mask for `heads` heads (a shared mask counts once per head). */
export function countEdges(mask: BlockMask, heads: number): EdgeCount {
  const { seqQ, seqK, blockQ, blockK, numQBlocks, rowPtr, colIdx, partial, bits, wordsPerRow } = mask;
  const tileWords = blockQ * wordsPerRow;
  const popcounts = new Map<number, number>();
  let allowed = 0;
  let tileEdges = 0;
  let tiles = 0;
  let partialTiles = 0;
  const rows = rowPtr.length - 1;
  for (let r = 0; r < rows; r++) {
    const qb = r % numQBlocks;
    const nq = Math.min(blockQ, seqQ - qb * blockQ);
    for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) {
      const nk = Math.min(blockK, seqK - colIdx[e] * blockK);
      const edges = nq * nk;
      tileEdges += edges;
      tiles++;
      const t = partial[e];
      if (t < 0) {
        allowed += edges;
      } else {
        partialTiles++;
        let c = popcounts.get(t);
        if (c === undefined) {
          c = 0;
          const base = t * tileWords;
          for (let w = 0; w < tileWords; w++) c += popcount32(bits[base + w]);
          popcounts.set(t, c);
        }
        allowed += c;
      }
    }
  }
  const f = mask.heads === 1 ? heads : heads / mask.heads;
  return { allowed: allowed * f, tileEdges: tileEdges * f, tiles: tiles * f, partialTiles: partialTiles * f };
}

/** 4·B·D·pairs, where `pairs` is already summed over heads. */
export function attentionFlops(batch: number, headDim: number, pairs: number): number {
  return 4 * batch * headDim * pairs;
}

/** FLOPs of dense attention: 4·B·H·D·seqQ·seqK. */
export function denseFlops(batch: number, heads: number, headDim: number, seqQ: number, seqK: number): number {
  return 4 * batch * heads * headDim * seqQ * seqK;
}
