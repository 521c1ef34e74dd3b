/** The native multi-threaded CPU backend (native/cpu), fed the mask compiled for its tile shape. */
import { nativeCall } from '../abort.js';
import type { DType } from '../dtypes.js';
import type { BlockMask } from '../mask/blockmask.js';
import { compileMask } from '../mask/index.js';
import { loadNative, type NativeAttentionArgs, type NativeView } from '../native.js';
import type { Tensor } from '../tensor.js';
import type { AttentionPlan, Operand } from '../validate.js';
import { allocateOutputs } from './operands.js';

const DTYPE_CODE: Record<DType, 0 | 1 | 2> = { float32: 0, float16: 1, bfloat16: 2 };

function nativeView(o: Operand, t: Tensor = o.tensor): NativeView {
  return {
    data: t.data,
    dtype: DTYPE_CODE[t.dtype],
    shape: [o.batch, o.heads, o.seq, o.headDim],
    strides: [...o.strides],
    offset: 0,
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

/** Builds the native call for a plan; the outputs it writes are returned alongside. */
export function cpuCall(plan: AttentionPlan): { args: NativeAttentionArgs; out: Tensor; lse: Tensor } {
  const tile = cpuTile();
  const mask = compileMask(plan.pattern, {
    seqQ: plan.q.seq,
    seqK: plan.k.seq,
    heads: plan.q.heads,
    blockQ: tile.blockQ,
    blockK: tile.blockK,
  });
  const { out, lse } = allocateOutputs(plan);
  const args: NativeAttentionArgs = {
    q: nativeView(plan.q),
    k: nativeView(plan.k),
    v: nativeView(plan.v),
    out: nativeView(plan.q, out),
    lse: lse.data as Float32Array,
    mask: maskArgs(mask),
    scale: plan.scale,
    softcap: plan.softcap,
    alibi: plan.alibiSlopes ? Float32Array.from(plan.alibiSlopes) : null,
    rope: plan.rope ? { base: plan.rope.base, interleaved: plan.rope.style === 'interleaved', offset: plan.rope.offset, dims: plan.rope.dims } : null,
  };
  return { args, out, lse };
}

export function runCpuSync(plan: AttentionPlan): { out: Tensor; lse: Tensor } {
  const { args, out, lse } = cpuCall(plan);
  loadNative().attentionSync(args);
  return { out, lse };
}

export async function runCpu(plan: AttentionPlan, signal?: AbortSignal): Promise<{ out: Tensor; lse: Tensor }> {
  const { args, out, lse } = cpuCall(plan);
  await nativeCall(signal, (token) => loadNative().attention(args, token));
  return { out, lse };
}
