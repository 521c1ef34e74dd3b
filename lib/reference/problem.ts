import type { DType } from '../dtypes.js';
import type { Pattern } from '../patterns/pattern.js';
import type { ResolvedPositions } from '../positions.js';
import type { Selection } from '../select/selection.js';

/**
 * A strided read-only view of one attention operand, in logical [batch, heads, seq, headDim]
 * order whatever the storage layout: element (b, h, s, d) lives at
 * data[offset + b·strides[0] + h·strides[1] + s·strides[2] + d·strides[3]].
 */
export interface OperandView {
  readonly data: Float32Array | Uint16Array;
  readonly dtype: DType;
  readonly batch: number;
  readonly heads: number;
  readonly seq: number;
  readonly headDim: number;
  readonly strides: readonly [number, number, number, number];
  readonly offset: number;
}

/** RoPE with every default resolved. */
export interface ResolvedRope {
  readonly base: number;
  /** 'half': pairs (x[i], x[i + dims/2]) (GPT-NeoX); 'interleaved': pairs (x[2i], x[2i+1]) (GPT-J). */
  readonly style: 'half' | 'interleaved';
  /** added to every position (query and key) before rotation */
  readonly offset: number;
  /** the leading `dims` dimensions are rotated (even, ≤ headDim); the rest pass through */
  readonly dims: number;
}

/**
 * One validated attention call, with every option resolved. Query i sits at position
 * i + k.seq − q.seq (bottom-right alignment) and key j at j, unless `positions` says otherwise;
 * query head h reads kv head ⌊h / (Hq/Hkv)⌋.
 * Scores: s = scale·(q·k); if softcap > 0, s ← softcap·tanh(s / softcap); then
 * s ← s − alibiSlopes[h]·|pos(i) − pos(j)| when slopes are given; keys outside the pattern (and,
 * with a selection, outside the selected key blocks of the row's query block) are dropped.
 */
export interface AttentionProblem {
  readonly q: OperandView;
  readonly k: OperandView;
  readonly v: OperandView;
  readonly pattern: Pattern;
  readonly scale: number;
  /** 0 = no softcap */
  readonly softcap: number;
  /** one slope per query head, or null */
  readonly alibiSlopes: Float64Array | null;
  readonly rope: ResolvedRope | null;
  /** true positions of queries and keys; absent: the default geometry above */
  readonly positions?: ResolvedPositions;
  /** query-aware block selection, applied on top of the pattern */
  readonly selection?: Selection | null;
}

/**
 * Result in contiguous bhsd order: out[((b·Hq + h)·Sq + i)·D + d], lse[(b·Hq + h)·Sq + i]
 * (natural log of the softmax denominator; −Infinity for an empty row, whose output is 0).
 */
export interface AttentionResult<A extends Float32Array | Float64Array> {
  readonly out: A;
  readonly lse: A;
}
