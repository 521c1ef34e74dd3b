/**
 * Query-aware block selection (Quest, Tang et al. 2024): every block of `blockSize` keys keeps the
 * per-channel minimum and maximum of its keys (after RoPE); for a query q,
 * Σ_d max(q_d·min_d, q_d·max_d) is an upper bound on q·k over the block. For each query block
 * (blockSize rows) and kv head, the blocks the pattern reaches are ranked by the largest bound over
 * the block's query rows and the kv head's query heads; the `blocks` best are kept, plus the
 * diagonal block(s) — those holding a key at one of the query block's own positions — which are
 * always kept. The attention over the kept blocks is then exact.
 */
import { elementReader } from '../dtypes.js';
import { toNode } from '../patterns/index.js';
import { TileClass } from '../patterns/pattern.js';
import type { PatternNode } from '../patterns/node.js';
import { applyRope, ropeInvFreq } from '../reference/rope.js';
import type { OperandView, ResolvedRope } from '../reference/problem.js';
import type { Pattern } from '../patterns/pattern.js';
import { keyPosition as keyPositionOf, type ResolvedPositions } from '../positions.js';
import type { AddonBindings as NativeAddon } from '../native/bindings.js';
import type { Selection } from './selection.js';

/**
 * Per-block key summaries: bounds of batch element b, kv head hk, block kb at
 * ((b·kvHeads + hk)·numBlocks + kb)·headDim; positions are shared by the batch: count, minPos and
 * maxPos of (hk, kb) at hk·numBlocks + kb (count 0: an empty block).
 */
export interface KeyBlockBounds {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly headDim: number;
  readonly min: Float32Array;
  readonly max: Float32Array;
  readonly count: Int32Array;
  readonly minPos: Float64Array;
  readonly maxPos: Float64Array;
}

/** The inputs of a selection, as an AttentionPlan holds them (views in logical bhsd order). */
export interface SelectionProblem {
  readonly q: OperandView;
  readonly k: OperandView;
  readonly pattern: Pattern;
  readonly rope: ResolvedRope | null;
  readonly positions: ResolvedPositions;
  readonly blocks: number;
  readonly blockSize: number;
}

function keyPosition(pos: ResolvedPositions, hk: number, seqK: number, j: number): number {
  return keyPositionOf(pos, hk, j, seqK);
}

/** Computes block bounds from the keys of a call (one pass over k; RoPE applied at the true positions). */
export function keyBlockBounds(p: SelectionProblem): KeyBlockBounds {
  const { k, rope, positions, blockSize } = p;
  const B = k.batch;
  const Hkv = k.heads;
  const Sk = k.seq;
  const D = k.headDim;
  const nb = Math.ceil(Sk / blockSize);
  const min = new Float32Array(B * Hkv * nb * D).fill(Infinity);
  const max = new Float32Array(B * Hkv * nb * D).fill(-Infinity);
  const count = new Int32Array(Hkv * nb);
  const minPos = new Float64Array(Hkv * nb).fill(Infinity);
  const maxPos = new Float64Array(Hkv * nb).fill(-Infinity);
  const rk = elementReader(k.data, k.dtype);
  const invFreq = rope ? ropeInvFreq(rope, D) : null;
  const row = new Float64Array(D);
  for (let hk = 0; hk < Hkv; hk++) {
    for (let j = 0; j < Sk; j++) {
      const pos = keyPosition(positions, hk, Sk, j);
      if (pos < 0) continue;
      const kb = Math.floor(j / blockSize);
      count[hk * nb + kb]++;
      if (pos < minPos[hk * nb + kb]) minPos[hk * nb + kb] = pos;
      if (pos > maxPos[hk * nb + kb]) maxPos[hk * nb + kb] = pos;
      for (let b = 0; b < B; b++) {
        const base = k.offset + b * k.strides[0] + hk * k.strides[1] + j * k.strides[2];
        for (let d = 0; d < D; d++) row[d] = rk(base + d * k.strides[3]);
        if (rope && invFreq) applyRope(row, pos, rope, invFreq);
        const o = ((b * Hkv + hk) * nb + kb) * D;
        for (let d = 0; d < D; d++) {
          const x = Math.fround(row[d]);
          // NaN widens the bounds to ±∞ so that the block ranks first (its scores are NaN anyway)
          if (!(x >= min[o + d])) min[o + d] = Number.isNaN(x) ? -Infinity : x;
          if (!(x <= max[o + d])) max[o + d] = Number.isNaN(x) ? Infinity : x;
        }
      }
    }
  }
  return { blockSize, numBlocks: nb, headDim: D, min, max, count, minPos, maxPos };
}

const fround = Math.fround;
const lanes = new Float32Array(8);

/**
 * The Quest bound of one query row (D float32 values of `q` from `at`) against key block kb of
 * (b, hk): Σ_d max(q_d·min_d, q_d·max_d) ≥ q·k for every key k of the block. Computed in float32
 * exactly as the native scorer (native/cpu/select_body.h) does, so both select the same blocks:
 * products rounded to float32, a > b ? a : b, summed into lane d mod 8, the lanes added pairwise.
 * A NaN bound is reported as NaN (selectBlocks ranks it as +∞).
 */
export function questBound(q: ArrayLike<number>, at: number, bounds: KeyBlockBounds, b: number, hk: number, kb: number): number {
  const D = bounds.headDim;
  const Hkv = bounds.count.length / bounds.numBlocks;
  const o = ((b * Hkv + hk) * bounds.numBlocks + kb) * D;
  const { min, max } = bounds;
  lanes.fill(0);
  for (let d = 0; d < D; d++) {
    const x = q[at + d];
    const lo = fround(x * min[o + d]);
    const hi = fround(x * max[o + d]);
    const l = d & 7;
    lanes[l] = lanes[l] + (lo > hi ? lo : hi);
  }
  return fround(fround(fround(lanes[0] + lanes[1]) + fround(lanes[2] + lanes[3])) + fround(fround(lanes[4] + lanes[5]) + fround(lanes[6] + lanes[7])));
}

/** The kept blocks of one row: flag 2 always, the `blocks` best-scoring of flag 1 (ties: lower first). */
function rankBlocks(flags: Uint8Array, qRows: Float32Array, nr: number, bounds: KeyBlockBounds, b: number, hk: number, blocks: number, score: Float64Array): number[] {
  const D = bounds.headDim;
  const ranked: number[] = [];
  for (let kb = 0; kb < flags.length; kb++) {
    if (flags[kb] !== 1) continue;
    let best = -Infinity;
    let nan = false;
    for (let r = 0; r < nr; r++) {
      const s = questBound(qRows, r * D, bounds, b, hk, kb);
      if (s !== s) nan = true;
      else if (s > best) best = s;
    }
    score[kb] = nan ? Infinity : best;
    ranked.push(kb);
  }
  ranked.sort((x, y) => (score[y] > score[x] ? 1 : score[y] < score[x] ? -1 : x - y));
  const keep = new Set(ranked.slice(0, blocks));
  const out: number[] = [];
  for (let kb = 0; kb < flags.length; kb++) if (flags[kb] === 2 || keep.has(kb)) out.push(kb);
  return out;
}

/** Whether some query position in qs (rows i0..i1) and key of block kb may attend under head h. */
function reaches(
  node: PatternNode,
  qs: Float64Array,
  i0: number,
  i1: number,
  pmin: number,
  pmax: number,
  bounds: KeyBlockBounds,
  hk: number,
  kb: number,
  h: number,
  p: SelectionProblem,
): boolean {
  const at = hk * bounds.numBlocks + kb;
  if (bounds.count[at] === 0) return false;
  const c = node.classify(pmin, pmax + 1, bounds.minPos[at], bounds.maxPos[at] + 1, h);
  if (c === TileClass.Empty) return false;
  if (c === TileClass.Full) return true;
  const Sk = p.k.seq;
  const j1 = Math.min((kb + 1) * bounds.blockSize, Sk);
  for (let j = kb * bounds.blockSize; j < j1; j++) {
    const kp = keyPosition(p.positions, hk, Sk, j);
    if (kp < 0) continue;
    for (let i = i0; i < i1; i++) if (node.allows(qs[i], kp, h)) return true;
  }
  return false;
}

/**
 * The selection of a call: for each (batch, kv head, query block) the `blocks` reachable key
 * blocks with the highest Quest bound plus the diagonal blocks, ascending. Ties rank the lower
 * block first; a NaN bound ranks first. With `native` (the addon) the bounds are scored by the
 * native scorer (SIMD), which gives the same selection.
 */
export function selectBlocks(p: SelectionProblem, bounds: KeyBlockBounds = keyBlockBounds(p), native: NativeAddon | null = null): Selection {
  const { q, rope, positions, blocks, blockSize } = p;
  const node = toNode(p.pattern, 'select');
  const B = q.batch;
  const Hq = q.heads;
  const Sq = q.seq;
  const D = q.headDim;
  const Hkv = p.k.heads;
  const group = Hq / Hkv;
  const nqb = Math.ceil(Sq / blockSize);
  const nb = bounds.numBlocks;
  if (bounds.blockSize !== blockSize || nb !== Math.ceil(p.k.seq / blockSize) || bounds.headDim !== D) {
    throw new RangeError('select: the key block bounds do not match the call (blockSize, key count or headDim)');
  }
  const rq = elementReader(q.data, q.dtype);
  const invFreq = rope ? ropeInvFreq(rope, D) : null;
  const qs = new Float64Array(Sq);
  for (let i = 0; i < Sq; i++) qs[i] = positions.queryPositions === null ? positions.queryStart + i : positions.queryPositions[i];

  const rowPtr = new Int32Array(B * Hkv * nqb + 1);
  const chosen: number[] = [];
  const qRows = new Float32Array(blockSize * group * D);
  const row = new Float64Array(D);
  const score = new Float64Array(nb);
  const flags = new Uint8Array(nb);
  // a pattern that is the same for every head reaches the same blocks from every head of a group
  const headsToCheck = node.headPeriod === 1 ? 1 : group;

  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      for (let qb = 0; qb < nqb; qb++) {
        const i0 = qb * blockSize;
        const i1 = Math.min(i0 + blockSize, Sq);
        let pmin = Infinity;
        let pmax = -Infinity;
        for (let i = i0; i < i1; i++) {
          pmin = Math.min(pmin, qs[i]);
          pmax = Math.max(pmax, qs[i]);
        }
        // the block's query rows of every head of the group, rotated, as float32
        let nr = 0;
        for (let g = 0; g < group; g++) {
          const h = hk * group + g;
          for (let i = i0; i < i1; i++, nr++) {
            const base = q.offset + b * q.strides[0] + h * q.strides[1] + i * q.strides[2];
            for (let d = 0; d < D; d++) row[d] = rq(base + d * q.strides[3]);
            if (rope && invFreq) applyRope(row, qs[i], rope, invFreq);
            qRows.set(row, nr * D);
          }
        }
        // 0: unreachable under the pattern, 2: the diagonal block (always kept), 1: ranked. When the
        // pattern allows every (query, key) pair of the head (causal decoding), every non-empty
        // block is reachable without asking block by block.
        let lo = Infinity;
        let hi = -Infinity;
        for (let kb = 0, at = hk * nb; kb < nb; kb++, at++) {
          if (bounds.count[at] === 0) continue;
          if (bounds.minPos[at] < lo) lo = bounds.minPos[at];
          if (bounds.maxPos[at] > hi) hi = bounds.maxPos[at];
        }
        let allReach = lo <= hi;
        for (let g = 0; g < headsToCheck && allReach; g++) allReach = node.classify(pmin, pmax + 1, lo, hi + 1, hk * group + g) === TileClass.Full;
        for (let kb = 0; kb < nb; kb++) {
          const at = hk * nb + kb;
          let reach = allReach && bounds.count[at] > 0;
          for (let g = 0; g < headsToCheck && !reach && !allReach; g++) reach = reaches(node, qs, i0, i1, pmin, pmax, bounds, hk, kb, hk * group + g, p);
          flags[kb] = !reach ? 0 : bounds.maxPos[at] >= pmin && bounds.minPos[at] <= pmax && holdsPositionIn(p, hk, kb, pmin, pmax) ? 2 : 1;
        }
        const kept = native
          ? native.questSelect({ q: qRows.subarray(0, nr * D), rows: nr, headDim: D, min: bounds.min, max: bounds.max, boundsOffset: (b * Hkv + hk) * nb * D, numBlocks: nb, flags, blocks })
          : rankBlocks(flags, qRows, nr, bounds, b, hk, blocks, score);
        for (const kb of kept) chosen.push(kb);
        rowPtr[(b * Hkv + hk) * nqb + qb + 1] = chosen.length;
      }
    }
  }
  return { blockSize, batch: B, kvHeads: Hkv, numQBlocks: nqb, numKBlocks: nb, rowPtr, blocks: Int32Array.from(chosen) };
}

/** Whether key block kb of kv head hk holds a key whose position lies in [pmin, pmax]. */
function holdsPositionIn(p: SelectionProblem, hk: number, kb: number, pmin: number, pmax: number): boolean {
  const Sk = p.k.seq;
  const j1 = Math.min((kb + 1) * p.blockSize, Sk);
  for (let j = kb * p.blockSize; j < j1; j++) {
    const kp = keyPosition(p.positions, hk, Sk, j);
    if (kp >= pmin && kp <= pmax) return true;
  }
  return false;
}
