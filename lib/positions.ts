/**
 * Where queries and keys sit in the sequence. By default key j is at position j and the queries
 * are the last seqQ positions (bottom-right alignment); `alignment: 'top-left'` puts query i at
 * position i instead (PyTorch SDPA's `is_causal`). `keyPositions` / `queryPositions` give true
 * positions explicitly — the keys a KV cache kept after evicting others — and every pattern,
 * ALiBi and RoPE is evaluated on them.
 */
import { describeValue } from './describe.js';

export type Alignment = 'bottom-right' | 'top-left';

/** The resolved positions of one attention call. */
export interface ResolvedPositions {
  /** query i sits at queryStart + i (when queryPositions is null) */
  readonly queryStart: number;
  /** one position per query row, or null (contiguous from queryStart) */
  readonly queryPositions: Int32Array | null;
  /**
   * Key positions: seqK entries shared by every kv head, or kvHeads × seqK (kv head hk's keys at
   * [hk·seqK, (hk + 1)·seqK)); a negative entry is an empty slot (never read). null: key j at
   * position j for every head. See keyPosition().
   */
  readonly keyPositions: Int32Array | null;
}

/** Largest magnitude a position may have: the native backends hold positions in int32. */
export const MAX_POSITION = 2 ** 31 - 1;

/** Whether a call's geometry is the default one (key j at j, queries bottom-right aligned). */
export function defaultGeometry(p: ResolvedPositions, seqQ: number, seqK: number): boolean {
  return p.keyPositions === null && p.queryPositions === null && p.queryStart === seqK - seqQ;
}

/** Position of key j of kv head hk (negative: an empty slot), for keys of seqK entries per head. */
export function keyPosition(p: ResolvedPositions, hk: number, j: number, seqK: number): number {
  const kp = p.keyPositions;
  if (kp === null) return j;
  return kp.length === seqK ? kp[j] : kp[hk * seqK + j];
}

/** Offset of kv head hk's list in keyPositions (0 when one list serves every head). */
export function keyPositionsOffset(p: ResolvedPositions, hk: number, seqK: number): number {
  return p.keyPositions === null || p.keyPositions.length === seqK ? 0 : hk * seqK;
}

/** Position of query row i. */
export function queryPos(p: ResolvedPositions, i: number): number {
  return p.queryPositions === null ? p.queryStart + i : p.queryPositions[i];
}

function int32Array(name: string, x: unknown): Int32Array {
  if (!(x instanceof Int32Array)) throw new TypeError(`${name} must be an Int32Array (got ${describeValue(x)})`);
  return x;
}

/**
 * Resolves options.alignment, options.keyPositions and options.queryPositions for q with seqQ rows
 * and k with kvHeads heads of seqK keys. keyPositions holds seqK entries (shared by every kv head)
 * or kvHeads·seqK (head-major); negative entries mark empty slots. queryPositions holds seqQ
 * entries and replaces the alignment rule. The arrays are copied (the call never sees later writes).
 */
export function resolvePositions(
  o: { alignment?: unknown; keyPositions?: unknown; queryPositions?: unknown },
  seqQ: number,
  kvHeads: number,
  seqK: number,
): ResolvedPositions {
  const alignment = o.alignment ?? 'bottom-right';
  if (alignment !== 'bottom-right' && alignment !== 'top-left') {
    throw new RangeError(`options.alignment must be 'bottom-right' or 'top-left' (got ${typeof alignment === 'string' ? JSON.stringify(alignment) : describeValue(alignment)})`);
  }
  let keyPositions: Int32Array | null = null;
  let maxKey = -1;
  if (o.keyPositions !== undefined) {
    const kp = int32Array('options.keyPositions', o.keyPositions);
    if (kp.length !== seqK && kp.length !== kvHeads * seqK) {
      throw new RangeError(`options.keyPositions must hold seqK (${seqK}) positions, or kvHeads × seqK (${kvHeads} × ${seqK}) for one list per kv head; got ${kp.length}`);
    }
    keyPositions = Int32Array.from(kp);
    for (let i = 0; i < kp.length; i++) {
      const x = kp[i];
      if (x > maxKey) maxKey = x;
      else if (x < 0) keyPositions[i] = -1;
    }
  }
  let queryPositions: Int32Array | null = null;
  if (o.queryPositions !== undefined) {
    if (o.alignment !== undefined) throw new RangeError('options.queryPositions and options.alignment exclude each other: explicit query positions need no alignment rule');
    const qp = int32Array('options.queryPositions', o.queryPositions);
    if (qp.length !== seqQ) throw new RangeError(`options.queryPositions must hold one position per query row (${seqQ}); got ${qp.length}`);
    queryPositions = Int32Array.from(qp);
  }
  let queryStart: number;
  if (alignment === 'top-left') queryStart = 0;
  else queryStart = (keyPositions === null ? seqK : maxKey + 1) - seqQ;
  return { queryStart, queryPositions, keyPositions };
}
