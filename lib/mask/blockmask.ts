/**
 * BlockMask: the one block-sparse layout that every backend consumes (TypeScript, C++ and CUDA).
 * A CSR over tiles of blockQ query rows × blockK key columns. Rows are query *indices*
 * i ∈ [0, seqQ) (the compiler maps them to positions p = i + seqK − seqQ), columns are key
 * indices j ∈ [0, seqK).
 *
 * For row r = m·numQBlocks + qb, where the backends read row m = ⌊h / (Hq / heads)⌋ for query
 * head h of Hq (m = 0 when the mask is shared by all heads; m = h for a mask per head; the kv head
 * of h for a mask built at run time per kv head):
 *   colIdx[rowPtr[r] .. rowPtr[r+1])  ascending key-block indices of tiles with ≥ 1 allowed pair;
 *   partial[e] = −1 when tile e is full (every in-bounds pair allowed: the kernel applies no
 *                mask, only the sequence bounds), else the index t of its bit tile.
 * Bit tile t occupies bits[t·blockQ·wordsPerRow, (t+1)·blockQ·wordsPerRow): row-major over the
 * tile's blockQ query rows; key column c of the tile is bit (c & 31) of word (c >> 5). Bits of
 * out-of-range rows or columns (past seqQ / seqK) are 0.
 */
export interface BlockMask {
  readonly seqQ: number;
  readonly seqK: number;
  readonly blockQ: number;
  readonly blockK: number;
  readonly numQBlocks: number;
  readonly numKBlocks: number;
  /**
   * 1 when one mask serves every head; otherwise the number of heads it was compiled for (or, for
   * a mask built at run time per kv head, the number of kv heads). Backends require it to divide
   * the number of query heads.
   */
  readonly heads: number;
  readonly rowPtr: Int32Array;
  readonly colIdx: Int32Array;
  readonly partial: Int32Array;
  /** ceil(blockK / 32) */
  readonly wordsPerRow: number;
  readonly bits: Uint32Array;
}
