/**
 * The pure-TypeScript backend: attention by the tiled float32 FlashAttention algorithm
 * (lib/reference/tiled.ts), linear attention by the chunked float32 scan (lib/linear/reference.ts).
 */
import type { AttentionPlan } from '../attention/plan.js';
import { encode16 } from '../dtypes.js';
import type { LinearPlan } from '../linear/plan.js';
import { linearChunked, stateTensors, toOutputTensor } from '../linear/reference.js';
import { attentionTiled } from '../reference/tiled.js';
import type { Tensor } from '../tensor.js';
import { allocateOutputs, operandView, type LinearOutputs } from './operands.js';

export function runReference(plan: AttentionPlan): { out: Tensor; lse: Tensor } {
  const res = attentionTiled({
    q: operandView(plan.q),
    k: operandView(plan.k),
    v: operandView(plan.v),
    pattern: plan.pattern,
    scale: plan.scale,
    softcap: plan.softcap,
    alibiSlopes: plan.alibiSlopes,
    rope: plan.rope,
  });
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
  return { out, lse };
}

/** Linear attention by the chunked float32 algorithm. */
export function runLinearReference(p: LinearPlan): LinearOutputs {
  const r = linearChunked(p);
  return { out: toOutputTensor(p, r.out), ...stateTensors(p, r.S, r.z) };
}
