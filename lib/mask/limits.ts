/** The size limits of compileMask, and the error past the tile count. */

/**
 * Limits of compileMask (a RangeError naming the option past each; all but the last before any work):
 *  - seqQ, seqK ≤ MAX_MASK_SEQ: they are int32 in the native view of a BlockMask
 *    (BlockMaskView in native/include/attnflow.h), as are block indices;
 *  - blockQ, blockK ≤ MAX_MASK_BLOCK (the tile sides analyze, renderMask and the CLI accept), and a
 *    bit tile (blockQ rows of 32·wordsPerRow bits) of at most MAX_MASK_TILE_BITS bits: 2 MiB, e.g.
 *    4096×4096 — every kernel's tile is far smaller, and the compiler keeps several tiles in flight;
 *  - heads ≤ MAX_MASK_HEADS when the pattern differs between heads (the mask has a row of tiles
 *    per head and query block, and compiling costs time linear in heads);
 *  - at most MAX_MASK_TILES rows of tiles (heads × numQBlocks) and MAX_MASK_TILES visited tiles:
 *    rowPtr holds int32 offsets into colIdx / partial. The tile count is known only while
 *    compiling; past it compileMask stops with a RangeError before growing its arrays further.
 */
export const MAX_MASK_SEQ = 2 ** 31 - 1;
export const MAX_MASK_BLOCK = 65536;
export const MAX_MASK_TILE_BITS = 2 ** 24;
export const MAX_MASK_HEADS = 65536;
export const MAX_MASK_TILES = 2 ** 31 - 1;

export function tooManyTiles(): RangeError {
  return new RangeError(
    `compileMask: the mask would hold more than ${MAX_MASK_TILES} tiles, more than its int32 rowPtr can index; ` +
      'use larger tiles (blockQ, blockK) or shorter sequences (seqQ, seqK)',
  );
}

