/**
 * BlockMasks built at run time, for calls whose keys do not sit at positions 0..seqK−1 (a KV cache
 * after eviction, explicit key or query positions, top-left alignment) or whose key blocks are
 * chosen from the data (query-aware selection). Same layout as compiled masks (blockmask.ts), so
 * the same kernels run them.
 *
 * Cost: for each (head, query tile) only the candidate key blocks — with a selection, the selected
 * ones; otherwise those of the pattern's key ranges when key blocks are in ascending position
 * order (found by binary search, after one pass over the key positions), else every non-empty key
 * block (a cache's slots: O(kept keys / blockK)). A block's summary (smallest and largest position,
 * keys held, whether it holds consecutive positions) is computed when first visited.
 * Each candidate is classified analytically on the position ranges it spans (pattern.classify);
 * only partial tiles are evaluated element by element — or by the pattern's own row fill when both
 * the query rows and the key block hold consecutive positions.
 */
import type { BlockMask } from './blockmask.js';
import type { Pattern } from '../patterns/pattern.js';
import { TileClass } from '../patterns/pattern.js';
import { toNode } from '../patterns/index.js';
import type { PatternNode } from '../patterns/node.js';
import type { ResolvedPositions } from '../positions.js';
import { selectedBlocks, type Selection } from '../select/selection.js';

export interface RuntimeMaskOptions {
  readonly seqQ: number;
  readonly seqK: number;
  /** query heads */
  readonly heads: number;
  readonly kvHeads: number;
  readonly blockQ: number;
  readonly blockK: number;
  readonly positions: ResolvedPositions;
  /** a selection restricts each (kv head, query block) to its selected key blocks; it is per batch element */
  readonly selection?: Selection | null;
  /** the batch element whose selection the mask is for (default 0) */
  readonly batchIndex?: number;
}

/**
 * Per key block of one kv head: smallest and largest position, non-empty keys, and whether the
 * block is full width, has no empty slot and holds positions min, min + 1, … in order. Blocks are
 * summarised on first use (a selection visits few), the list of non-empty blocks and whether
 * their positions ascend (binary search allowed) only when asked for.
 */
class KeyBlocks {
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly count: Int32Array;
  readonly consecutive: Uint8Array;
  private readonly done: Uint8Array;
  private all: { nonEmpty: Int32Array; monotone: boolean } | null = null;

  constructor(
    private readonly kp: Int32Array | null,
    private readonly off: number,
    private readonly seqK: number,
    private readonly blockK: number,
  ) {
    const nkb = Math.ceil(seqK / blockK);
    this.min = new Float64Array(nkb);
    this.max = new Float64Array(nkb);
    this.count = new Int32Array(nkb);
    this.consecutive = new Uint8Array(nkb);
    this.done = new Uint8Array(nkb);
  }

  /** Summarises block kb (once). */
  ensure(kb: number): void {
    if (this.done[kb]) return;
    this.done[kb] = 1;
    const { kp, blockK, seqK } = this;
    const width = Math.min(blockK, seqK - kb * blockK);
    if (kp === null) {
      this.min[kb] = kb * blockK;
      this.max[kb] = kb * blockK + width - 1;
      this.count[kb] = width;
      this.consecutive[kb] = width === blockK ? 1 : 0;
      return;
    }
    const j0 = this.off + kb * blockK;
    const j1 = j0 + width;
    let lo = Infinity;
    let hi = -Infinity;
    let n = 0;
    let cons = width === blockK;
    const first = kp[j0];
    for (let j = j0; j < j1; j++) {
      const p = kp[j];
      if (p < 0) continue;
      if (p !== first + (j - j0)) cons = false;
      if (p < lo) lo = p;
      if (p > hi) hi = p;
      n++;
    }
    this.min[kb] = lo;
    this.max[kb] = hi;
    this.count[kb] = n;
    this.consecutive[kb] = cons && n === blockK ? 1 : 0;
  }

  /** The non-empty blocks, ascending, and whether their min and max never decrease. */
  scan(): { nonEmpty: Int32Array; monotone: boolean } {
    if (this.all !== null) return this.all;
    const nkb = this.min.length;
    const nonEmpty = new Int32Array(nkb);
    let ne = 0;
    let monotone = true;
    let lastMin = -Infinity;
    let lastMax = -Infinity;
    for (let kb = 0; kb < nkb; kb++) {
      this.ensure(kb);
      if (this.count[kb] === 0) continue;
      nonEmpty[ne++] = kb;
      if (this.min[kb] < lastMin || this.max[kb] < lastMax) monotone = false;
      lastMin = this.min[kb];
      lastMax = this.max[kb];
    }
    this.all = { nonEmpty: nonEmpty.subarray(0, ne), monotone };
    return this.all;
  }
}

/** Growable CSR output. */
class Rows {
  cols: number[] = [];
  partial: number[] = [];
  bits: Uint32Array = new Uint32Array(1024);
  tiles = 0;
  constructor(readonly tileWords: number) {}
  addTile(buf: Uint32Array): number {
    const need = (this.tiles + 1) * this.tileWords;
    if (need > this.bits.length) {
      const g = new Uint32Array(Math.max(need, this.bits.length * 2));
      g.set(this.bits);
      this.bits = g;
    }
    this.bits.set(buf, this.tiles * this.tileWords);
    return this.tiles++;
  }
}

/** The first index in the sorted list `a` (of block indices) whose value of `key` is ≥ x. */
function lowerBound(a: Int32Array, key: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (key[a[m]] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * Builds the BlockMask of a call with explicit positions (and optionally a selection). One row of
 * tiles per query block for all heads (heads = 1) when every head gets the same rows (a pattern
 * that is the same for every head, the same key positions for every kv head, no selection); per kv
 * head (heads = kvHeads) when only the keys or the selection differ between kv heads — so the heads
 * of a GQA group still share their K/V tiles in the kernels —; per query head (heads = Hq) when the
 * pattern differs between heads.
 */
export function buildRuntimeMask(pattern: Pattern, o: RuntimeMaskOptions): BlockMask {
  const node: PatternNode = toNode(pattern, 'buildRuntimeMask');
  const { seqQ, seqK, heads: Hq, kvHeads: Hkv, blockQ, blockK, positions } = o;
  const selection = o.selection ?? null;
  const b = o.batchIndex ?? 0;
  const group = Hq / Hkv;
  const kp = positions.keyPositions;
  const numQBlocks = Math.ceil(seqQ / blockQ);
  const numKBlocks = Math.ceil(seqK / blockK);
  const wpr = Math.ceil(blockK / 32);
  const tileWords = blockQ * wpr;

  // one list of key positions for every kv head (or identical lists)
  const stride = kp === null || kp.length === seqK ? 0 : seqK;
  let sameKeys = true;
  for (let hk = 1; hk < Hkv && sameKeys && stride > 0; hk++) {
    for (let j = 0; j < seqK; j++) {
      if (kp![hk * seqK + j] !== kp![j]) {
        sameKeys = false;
        break;
      }
    }
  }
  const shared = node.headPeriod === 1 && sameKeys && selection === null;
  // Rows are computed per unit: one unit when shared; per kv head when only the keys or the
  // selection differ between kv heads; per query head when the pattern differs between heads.
  const perQueryHead = node.headPeriod > 1;
  const units = shared ? 1 : perQueryHead ? Hq : Hkv;

  const qp = new Float64Array(seqQ);
  for (let i = 0; i < seqQ; i++) qp[i] = positions.queryPositions === null ? positions.queryStart + i : positions.queryPositions[i];

  const blocksOf = new Map<number, KeyBlocks>();
  const rows = new Rows(tileWords);
  const unitPtr = new Int32Array(units * numQBlocks + 1);
  const buf = new Uint32Array(tileWords);
  const fullRow = new Uint32Array(wpr);
  const selMap = selection ? new Uint8Array(selection.numKBlocks) : null;
  const selBs = selection ? selection.blockSize : 0;

  for (let u = 0; u < units; u++) {
    const h = perQueryHead ? u : shared ? 0 : u * group; // pattern head evaluated
    const hk = perQueryHead ? Math.floor(u / group) : shared ? 0 : u;
    const off = sameKeys ? 0 : hk * stride;
    let kb = blocksOf.get(off);
    if (kb === undefined) {
      kb = new KeyBlocks(kp, off, seqK, blockK);
      blocksOf.set(off, kb);
    }
    const keyAt = (j: number): number => (kp === null ? j : kp[off + j]);
    for (let qb = 0; qb < numQBlocks; qb++) {
      const i0 = qb * blockQ;
      const i1 = Math.min(i0 + blockQ, seqQ);
      let pmin = Infinity;
      let pmax = -Infinity;
      let qCons = true;
      for (let i = i0; i < i1; i++) {
        if (qp[i] < pmin) pmin = qp[i];
        if (qp[i] > pmax) pmax = qp[i];
        if (qp[i] !== qp[i0] + (i - i0)) qCons = false;
      }
      // a selection whose query blocks do not line up with the tile's rows is applied per row
      const selRowWise = selection !== null && (selBs % blockQ !== 0 || Math.floor(i0 / selBs) !== Math.floor((i1 - 1) / selBs));
      let mapQb = -1; // the selection query block selMap holds
      if (selection !== null && !selRowWise) {
        mapQb = Math.floor(i0 / selBs);
        selectedBlocks(selection, b, hk, mapQb, selMap!);
      }
      const isSelected = (i: number, j: number): boolean => {
        if (selection === null) return true;
        const sqb = Math.floor(i / selBs);
        if (sqb !== mapQb) {
          selectedBlocks(selection, b, hk, sqb, selMap!);
          mapQb = sqb;
        }
        return selMap![Math.floor(j / selBs)] === 1;
      };

      // candidate key blocks: those holding a selected block; else those the pattern's key ranges
      // reach (binary search when positions ascend over the blocks); else every non-empty block
      let cand: Int32Array;
      if (selection !== null && !selRowWise) {
        const r = (b * selection.kvHeads + hk) * selection.numQBlocks + mapQb;
        const list: number[] = [];
        for (let e = selection.rowPtr[r]; e < selection.rowPtr[r + 1]; e++) {
          const sb = selection.blocks[e];
          const k1 = Math.min(numKBlocks, Math.ceil(((sb + 1) * selBs) / blockK));
          for (let k = Math.max(Math.floor((sb * selBs) / blockK), list.length > 0 ? list[list.length - 1] + 1 : 0); k < k1; k++) list.push(k);
        }
        cand = Int32Array.from(list);
      } else {
        const all = kb.scan();
        const ranges = all.monotone ? node.keyRanges(pmin, pmax + 1, h) : null;
        if (ranges === null) cand = all.nonEmpty;
        else {
          const list: number[] = [];
          let last = -1;
          for (let r = 0; r < ranges.length; r += 2) {
            // blocks whose [min, max] meets [lo, hi): max ≥ lo (from the first such) and min < hi
            let at = lowerBound(all.nonEmpty, kb.max, ranges[r]);
            for (; at < all.nonEmpty.length && kb.min[all.nonEmpty[at]] < ranges[r + 1]; at++) {
              const x = all.nonEmpty[at];
              if (x > last) {
                list.push(x);
                last = x;
              }
            }
          }
          cand = Int32Array.from(list);
        }
      }

      for (let c = 0; c < cand.length; c++) {
        const k = cand[c];
        kb.ensure(k);
        if (kb.count[k] === 0) continue;
        const j0 = k * blockK;
        const j1 = Math.min(j0 + blockK, seqK);
        if (selection !== null && !selRowWise) {
          // skip key blocks that touch no selected block
          let any = false;
          for (let sb = Math.floor(j0 / selBs); sb <= Math.floor((j1 - 1) / selBs) && !any; sb++) any = selMap![sb] === 1;
          if (!any) continue;
        }
        const cls = node.classify(pmin, pmax + 1, kb.min[k], kb.max[k] + 1, h);
        if (cls === TileClass.Empty) continue;
        const width = j1 - j0;
        let fullSel = selection === null;
        if (selection !== null && !selRowWise) {
          fullSel = true;
          for (let sb = Math.floor(j0 / selBs); sb <= Math.floor((j1 - 1) / selBs) && fullSel; sb++) fullSel = selMap![sb] === 1;
        }
        if (cls === TileClass.Full && kb.count[k] === width && fullSel) {
          rows.cols.push(k);
          rows.partial.push(-1);
          continue;
        }
        buf.fill(0);
        if (qCons && kb.consecutive[k] === 1 && fullSel) {
          node.fill(buf, wpr, pmin, pmax + 1, kb.min[k], kb.min[k] + width, h);
        } else {
          for (let i = i0; i < i1; i++) {
            const base = (i - i0) * wpr;
            for (let j = j0; j < j1; j++) {
              const p = keyAt(j);
              if (p >= 0 && node.allows(qp[i], p, h) && isSelected(i, j)) buf[base + ((j - j0) >>> 5)] |= 1 << ((j - j0) & 31);
            }
          }
        }
        // drop empty tiles; store all-set ones as full
        let anyBit = false;
        let full = true;
        for (let w = 0; w < wpr; w++) {
          const cw = width - 32 * w;
          fullRow[w] = cw >= 32 ? 0xffffffff : cw <= 0 ? 0 : (0xffffffff >>> (32 - cw)) >>> 0;
        }
        for (let r = 0; r < i1 - i0; r++) {
          for (let w = 0; w < wpr; w++) {
            const v = buf[r * wpr + w] >>> 0;
            if (v !== 0) anyBit = true;
            if (v !== fullRow[w]) full = false;
          }
        }
        if (!anyBit) continue;
        rows.cols.push(k);
        rows.partial.push(full ? -1 : rows.addTile(buf));
      }
      unitPtr[u * numQBlocks + qb + 1] = rows.cols.length;
    }
  }

  // rows per kv head are read by query head h as row ⌊h / group⌋ (BlockMask.heads = kvHeads)
  const maskHeads = units;
  const rowPtr = unitPtr;
  const colIdx = Int32Array.from(rows.cols);
  const partial = Int32Array.from(rows.partial);
  return {
    seqQ,
    seqK,
    blockQ,
    blockK,
    numQBlocks,
    numKBlocks,
    heads: maskHeads,
    rowPtr,
    colIdx,
    partial,
    wordsPerRow: wpr,
    bits: rows.bits.slice(0, rows.tiles * tileWords),
  };
}
