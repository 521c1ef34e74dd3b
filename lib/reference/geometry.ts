/**
 * Positions and selection of an AttentionProblem, materialised for the reference implementations
 * (the float64 oracle and the float32 tiled algorithm): one position per query row, one per key
 * slot of each kv head (−1 for an empty slot), and a per-row 0/1 map of selected key blocks.
 */
import { selectedBlocks } from '../select/selection.js';
import type { AttentionProblem } from './problem.js';

export interface Geometry {
  /** position of each query row */
  readonly queryPos: Float64Array;
  /** key positions (negative: empty slot) of kv head hk at keyPos[hk·keyStride + j], or null: key j at j */
  readonly keyPos: Int32Array | null;
  /** 0 when one list of key positions serves every kv head, else seqK */
  readonly keyStride: number;
  /** whether key j of kv head hk is selected for query row i of batch b (always true without a selection) */
  selected(b: number, hk: number, i: number, j: number): boolean;
}

/** Checks a problem's positions and selection against its shapes (RangeError otherwise). */
export function checkGeometry(p: AttentionProblem): void {
  const Sq = p.q.seq;
  const Sk = p.k.seq;
  const Hkv = p.k.heads;
  const pos = p.positions;
  if (pos) {
    if (!Number.isSafeInteger(pos.queryStart)) throw new RangeError(`positions.queryStart must be an integer, got ${pos.queryStart}`);
    if (pos.queryPositions !== null && pos.queryPositions.length !== Sq) {
      throw new RangeError(`positions.queryPositions must hold ${Sq} entries, got ${pos.queryPositions.length}`);
    }
    if (pos.keyPositions !== null && pos.keyPositions.length !== Sk && pos.keyPositions.length !== Hkv * Sk) {
      throw new RangeError(`positions.keyPositions must hold seqK (${Sk}) or kvHeads × seqK (${Hkv * Sk}) entries, got ${pos.keyPositions.length}`);
    }
  }
  const sel = p.selection;
  if (sel) {
    const nq = Math.ceil(Sq / sel.blockSize);
    const nk = Math.ceil(Sk / sel.blockSize);
    if (sel.batch !== p.q.batch || sel.kvHeads !== Hkv || sel.numQBlocks !== nq || sel.numKBlocks !== nk) {
      throw new RangeError('selection does not match the problem: batch, kvHeads or block counts differ');
    }
    if (sel.rowPtr.length !== sel.batch * Hkv * nq + 1) throw new RangeError('selection.rowPtr has the wrong length');
  }
}

export function geometryOf(p: AttentionProblem): Geometry {
  const Sq = p.q.seq;
  const Sk = p.k.seq;
  const pos = p.positions;
  const queryPos = new Float64Array(Sq);
  for (let i = 0; i < Sq; i++) {
    queryPos[i] = pos ? (pos.queryPositions !== null ? pos.queryPositions[i] : pos.queryStart + i) : i + Sk - Sq;
  }
  const keyPos = pos?.keyPositions ?? null;
  const keyStride = keyPos === null || keyPos.length === Sk ? 0 : Sk;
  const sel = p.selection ?? null;
  if (sel === null) return { queryPos, keyPos, keyStride, selected: () => true };
  const map = new Uint8Array(sel.numKBlocks);
  let row = -1;
  const bs = sel.blockSize;
  return {
    queryPos,
    keyPos,
    keyStride,
    selected(b: number, hk: number, i: number, j: number): boolean {
      const r = (b * sel.kvHeads + hk) * sel.numQBlocks + Math.floor(i / bs);
      if (r !== row) {
        selectedBlocks(sel, b, hk, Math.floor(i / bs), map);
        row = r;
      }
      return map[Math.floor(j / bs)] === 1;
    },
  };
}
