/** The native multi-threaded CPU backend (native/cpu), fed the mask built for its tile shape. */
import type { DType } from '../dtypes.js';
import type { BlockMask } from '../mask/blockmask.js';
import { loadNative, type NativeAttentionArgs, type NativeView } from '../native.js';
import type { Selection } from '../select/selection.js';
import type { AttentionPlan, Operand } from '../validate.js';
import { planMask } from './masks.js';
import { allocateOutputs, type BackendResult } from './operands.js';
import { Tensor } from '../tensor.js';

const DTYPE_CODE: Record<DType, 0 | 1 | 2> = { float32: 0, float16: 1, bfloat16: 2 };

/** A native view of operand `o` (stored in `t`); with `batch`, of that batch element only. */
function nativeView(o: Operand, t: Tensor = o.tensor, batch?: number): NativeView {
  return {
    data: t.data,
    dtype: DTYPE_CODE[t.dtype],
    shape: [batch === undefined ? o.batch : 1, o.heads, o.seq, o.headDim],
    strides: [...o.strides],
    offset: batch === undefined ? 0 : batch * o.strides[0],
  };
}

function maskArgs(m: BlockMask): NativeAttentionArgs['mask'] {
  const { seqQ, seqK, blockQ, blockK, numQBlocks, numKBlocks, heads, wordsPerRow, rowPtr, colIdx, partial, bits } = m;
  return { seqQ, seqK, blockQ, blockK, numQBlocks, numKBlocks, heads, wordsPerRow, rowPtr, colIdx, partial, bits };
}

let tileShape: { blockQ: number; blockK: number } | undefined;

/** The tile shape the native CPU kernel runs, which its masks are compiled for. */
export function cpuTile(): { blockQ: number; blockK: number } {
  tileShape ??= loadNative().info().cpu.tile;
  return tileShape;
}

/**
 * Builds the native calls for a plan (one per batch element when a selection is given: its mask
 * differs between batch elements); the outputs they write are returned alongside.
 */
export function cpuCalls(plan: AttentionPlan, selection: Selection | null = null): { calls: NativeAttentionArgs[]; result: BackendResult } {
  const tile = cpuTile();
  const { out, lse } = allocateOutputs(plan);
  const rope = plan.rope ? { base: plan.rope.base, interleaved: plan.rope.style === 'interleaved', offset: plan.rope.offset, dims: plan.rope.dims } : null;
  const alibi = plan.alibiSlopes ? Float32Array.from(plan.alibiSlopes) : null;
  const lseData = lse.data as Float32Array;
  const { keyPositions, queryPositions, queryStart } = plan.positions;
  const massPerBatch = plan.k.heads * plan.k.seq;
  const keyMass = plan.returnKeyMass ? Tensor.zeros([plan.k.batch, plan.k.heads, plan.k.seq], { dtype: 'float32' }) : null;
  const massData = keyMass === null ? null : (keyMass.data as Float32Array);
  const perBatch = selection !== null;
  const calls: NativeAttentionArgs[] = [];
  for (let b = 0; b < (perBatch ? plan.q.batch : 1); b++) {
    const at = perBatch ? b : undefined;
    const rows = plan.q.heads * plan.q.seq;
    calls.push({
      q: nativeView(plan.q, plan.q.tensor, at),
      k: nativeView(plan.k, plan.k.tensor, at),
      v: nativeView(plan.v, plan.v.tensor, at),
      out: nativeView(plan.q, out, at),
      lse: perBatch ? lseData.subarray(b * rows, (b + 1) * rows) : lseData,
      mask: maskArgs(planMask(plan, tile, selection, b)),
      scale: plan.scale,
      softcap: plan.softcap,
      alibi,
      rope,
      queryPositions,
      queryStart,
      keyPositions,
      keyMass: massData === null ? null : perBatch ? massData.subarray(b * massPerBatch, (b + 1) * massPerBatch) : massData,
    });
  }
  return { calls, result: keyMass === null ? { out, lse } : { out, lse, keyMass } };
}

export function runCpuSync(plan: AttentionPlan, selection: Selection | null = null): BackendResult {
  const { calls, result } = cpuCalls(plan, selection);
  for (const args of calls) loadNative().attentionSync(args);
  return result;
}

export async function runCpu(plan: AttentionPlan, selection: Selection | null = null): Promise<BackendResult> {
  const { calls, result } = cpuCalls(plan, selection);
  for (const args of calls) await loadNative().attention(args);
  return result;
}
