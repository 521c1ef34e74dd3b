/**
 * Test helpers: run the float64 oracle on public Tensors, compare results by relative
 * Frobenius error, poison outputs.
 */
import { attentionOracle } from '../../lib/reference/oracle.js';
import { alibiSlopes } from '../../lib/reference/alibi.js';
import { toPattern } from '../../lib/patterns/index.js';
import type { Tensor } from '../../lib/tensor.js';
import type { AttentionOptions } from '../../lib/attention/plan.js';
import { planAttention } from '../../lib/attention/plan.js';
import { referenceProblem } from '../../lib/backends/reference.js';

/** SPEC's bars, by input dtype. */
export const TOLERANCE = { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 } as const;

/** Oracle result in the logical bhsd order: out [B, Hq, Sq, D], lse [B, Hq, Sq]. */
export function oracle(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): { out: Float64Array; lse: Float64Array } {
  return attentionOracle(referenceProblem(planAttention(q, k, v, { ...options, backend: 'reference' }), null));
}

/** A backend's output in logical bhsd order, as float64. */
export function toBhsd(t: Tensor): Float64Array {
  const { batch: B, heads: H, seq: S, headDim: D, strides } = t.dims4();
  const f = t.toFloat32();
  const r = new Float64Array(B * H * S * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++)
        for (let d = 0; d < D; d++) r[((b * H + h) * S + s) * D + d] = f[b * strides[0] + h * strides[1] + s * strides[2] + d];
  return r;
}

/** ‖a − ref‖/‖ref‖; NaN anywhere gives NaN (which fails every ≤ bar). Infinite entries must match exactly. */
export function relError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new Error(`length ${a.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i])) return NaN;
    if (!Number.isFinite(ref[i]) || !Number.isFinite(a[i])) {
      if (a[i] !== ref[i]) return Infinity;
      continue;
    }
    num += (a[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export { alibiSlopes, toPattern };
