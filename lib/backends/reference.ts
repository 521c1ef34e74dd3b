/**
 * The pure-TypeScript backend: attention by the tiled float32 FlashAttention algorithm
 * (lib/reference/tiled.ts; key masses, when asked for, are the float64 oracle's probabilities
 * summed, rounded to float32), linear attention by the chunked float32 scan (lib/linear/reference.ts).
 */
import type { AttentionPlan } from '../attention/plan.js';
import { encode16 } from '../dtypes.js';
import type { LinearPlan } from '../linear/plan.js';
import { linearChunked, stateTensors, toOutputTensor } from '../linear/reference.js';
import { attentionOracle } from '../reference/oracle.js';
import type { AttentionProblem } from '../reference/problem.js';
import { attentionTiled } from '../reference/tiled.js';
import type { Selection } from '../select/selection.js';
import { Tensor } from '../tensor.js';
import { allocateOutputs, operandView, type AttentionOutputs, type LinearOutputs } from './operands.js';

/** The reference problem of a plan (and a selection). */
export function referenceProblem(plan: AttentionPlan, selection: Selection | null): AttentionProblem {
  return {
    q: operandView(plan.q),
    k: operandView(plan.k),
    v: operandView(plan.v),
    pattern: plan.pattern,
    scale: plan.scale,
    softcap: plan.softcap,
    alibiSlopes: plan.alibiSlopes,
    rope: plan.rope,
    positions: plan.positions,
    selection,
  };
}

export function runReference(plan: AttentionPlan, selection: Selection | null = null): AttentionOutputs {
  const problem = referenceProblem(plan, selection);
  const res = attentionTiled(problem);
  const { out, lse } = allocateOutputs(plan);
  // The tiled result is contiguous bhsd; scatter it into the output's layout and dtype.
  const { batch: B, heads: H, seq: S, headDim: D, strides } = plan.q;
  const f32 = new Float32Array(res.out.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const src = ((b * H + h) * S + s) * D;
        const dst = b * strides[0] + h * strides[1] + s * strides[2];
        for (let d = 0; d < D; d++) f32[dst + d] = res.out[src + d];
      }
    }
  }
  if (plan.dtype === 'float32') (out.data as Float32Array).set(f32);
  else encode16(f32, plan.dtype, out.data as Uint16Array);
  (lse.data as Float32Array).set(res.lse);
  if (!plan.returnKeyMass) return { out, lse };
  const mass = attentionOracle(problem, { keyMass: true }).keyMass!;
  const keyMass = Tensor.from(Float32Array.from(mass), [plan.k.batch, plan.k.heads, plan.k.seq]);
  return { out, lse, keyMass };
}

/** Linear attention by the chunked float32 algorithm. */
export function runLinearReference(p: LinearPlan): LinearOutputs {
  const r = linearChunked(p);
  return { out: toOutputTensor(p, r.out), ...stateTensors(p, r.S, r.z) };
}
