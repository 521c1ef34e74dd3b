/**
 * Rotary position embedding (RoPE), shared by the float64 oracle and the float32 tiled
 * reference. A row's leading `dims` dimensions are rotated in pairs; the rest pass through.
 *   'half'        (GPT-NeoX): pair t = (x[t], x[t + dims/2])
 *   'interleaved' (GPT-J):    pair t = (x[2t], x[2t + 1])
 * Pair t at absolute position p turns by the angle (p + offset)·base^(−2t/dims).
 */
import type { ResolvedRope } from './problem.js';
import { describeValue } from '../describe.js';

/** Checks a resolved RoPE against a head dimension; throws a RangeError when it cannot apply. */
export function checkRope(rope: ResolvedRope, headDim: number): void {
  if (!Number.isInteger(rope.dims) || rope.dims <= 0 || rope.dims % 2 !== 0 || rope.dims > headDim) {
    throw new RangeError(`rope.dims must be a positive even integer ≤ headDim (${headDim}), got ${rope.dims}`);
  }
  if (!(rope.base > 0) || !Number.isFinite(rope.base)) {
    throw new RangeError(`rope.base must be a positive finite number, got ${rope.base}`);
  }
  if (rope.style !== 'half' && rope.style !== 'interleaved') {
    throw new RangeError(`rope.style must be 'half' or 'interleaved', got ${describeValue(rope.style)}`);
  }
  if (!Number.isFinite(rope.offset)) throw new RangeError(`rope.offset must be finite, got ${rope.offset}`);
}

/** The dims/2 inverse frequencies base^(−2t/dims), t = 0 … dims/2 − 1, in float64. */
export function ropeInvFreq(rope: ResolvedRope, headDim: number): Float64Array {
  checkRope(rope, headDim);
  const half = rope.dims / 2;
  const f = new Float64Array(half);
  for (let t = 0; t < half; t++) f[t] = Math.pow(rope.base, (-2 * t) / rope.dims);
  return f;
}

/**
 * Rotates `row` in place for absolute position `pos` (rope.offset is added here). The angle,
 * its cosine and sine and the rotation are computed in float64; a Float32Array row rounds the
 * results to float32 on store. `invFreq` comes from ropeInvFreq(rope, headDim). The row starts
 * at `start` in `buf` (so a row of a tile buffer can be rotated without making a view).
 */
export function applyRope(
  buf: Float32Array | Float64Array,
  pos: number,
  rope: ResolvedRope,
  invFreq: Float64Array,
  start = 0,
): void {
  const half = invFreq.length;
  const p = pos + rope.offset;
  // 'half': pair t is (t, t + half); 'interleaved': pair t is (2t, 2t + 1).
  const step = rope.style === 'half' ? 1 : 2;
  const partner = rope.style === 'half' ? half : 1;
  for (let t = 0; t < half; t++) {
    const a = p * invFreq[t];
    const c = Math.cos(a);
    const s = Math.sin(a);
    const i0 = start + t * step;
    const i1 = i0 + partner;
    const x0 = buf[i0];
    const x1 = buf[i1];
    buf[i0] = x0 * c - x1 * s;
    buf[i1] = x0 * s + x1 * c;
  }
}
