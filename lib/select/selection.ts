/**
 * The result of query-aware block selection (option `select`): for every batch element, kv head
 * and query block, the key blocks kept. Attention then runs exactly over the selected blocks
 * intersected with the pattern; backends read it as a filter on top of the pattern (the
 * reference backends) or as a run-time BlockMask (the native ones).
 */
export interface Selection {
  /** keys per key block (key indices [kb·blockSize, (kb + 1)·blockSize)) and query rows per query block */
  readonly blockSize: number;
  readonly batch: number;
  readonly kvHeads: number;
  readonly numQBlocks: number;
  readonly numKBlocks: number;
  /** CSR over rows r = (b·kvHeads + hk)·numQBlocks + qb: blocks[rowPtr[r] .. rowPtr[r + 1]) ascending */
  readonly rowPtr: Int32Array;
  readonly blocks: Int32Array;
}

/** The selected key blocks of one row, as a 0/1 map over key blocks (written into `into`). */
export function selectedBlocks(sel: Selection, b: number, hk: number, qb: number, into: Uint8Array): Uint8Array {
  into.fill(0);
  const r = (b * sel.kvHeads + hk) * sel.numQBlocks + qb;
  for (let e = sel.rowPtr[r]; e < sel.rowPtr[r + 1]; e++) into[sel.blocks[e]] = 1;
  return into;
}
