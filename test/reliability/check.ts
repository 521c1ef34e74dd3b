/** Checks attention results against the float64 oracle (test/helpers/oracle.ts). */
import { oracle, relError, toBhsd, TOLERANCE } from '../helpers/oracle.js';
import { Tensor } from '../../lib/tensor.js';
import type { AttentionOptions } from '../../lib/attention/plan.js';

export interface Result {
  out: Tensor;
  lse: Tensor | null;
}

/** Normalises what attention returned (a Tensor or { out, lse }). */
export function asResult(r: unknown, returnLse: boolean | undefined): Result | string {
  if (returnLse) {
    if (r === null || typeof r !== 'object' || !((r as Result).out instanceof Tensor) || !((r as Result).lse instanceof Tensor)) {
      return 'returnLse: expected { out, lse } of Tensors';
    }
    return r as Result;
  }
  if (!(r instanceof Tensor)) return 'expected a Tensor';
  return { out: r, lse: null };
}

/**
 * Why a result is wrong (null when right): shape/dtype/layout as q, the output within the dtype's
 * bar of the oracle, lse equal to the oracle's (−Infinity exactly where a row is empty).
 */
export function wrongAnswer(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, r: Result, ref = oracle(q, k, v, options)): string | null {
  const { out, lse } = r;
  if (out.dtype !== q.dtype || out.layout !== (options.layout ?? q.layout) || out.shape.join() !== q.shape.join()) {
    return `output is ${out} but q is ${q}`;
  }
  const err = relError(toBhsd(out), ref.out);
  const bar = TOLERANCE[q.dtype];
  if (!(err <= bar)) return `relative error ${err} > ${bar}`;
  if (lse) {
    const [d0, d1, d2] = q.shape;
    const [B, H, S] = (options.layout ?? q.layout) === 'bhsd' ? [d0, d1, d2] : [d0, d2, d1];
    if (lse.dtype !== 'float32' || lse.shape.join() !== [B, H, S].join()) return `lse is ${lse}, expected float32 [${B}, ${H}, ${S}]`;
    const l = lse.toFloat32();
    for (let i = 0; i < l.length; i++) {
      const want = ref.lse[i];
      if (want === -Infinity || l[i] === -Infinity) {
        if (l[i] !== want) return `lse[${i}] = ${l[i]}, oracle ${want}`;
      } else if (!(Math.abs(l[i] - want) <= 1e-4 * (1 + Math.abs(want)))) {
        return `lse[${i}] = ${l[i]}, oracle ${want}`;
      }
    }
  }
  return null;
}
