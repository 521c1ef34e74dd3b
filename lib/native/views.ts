/**
 * How the TypeScript layer's values become the addon's arguments: the one dtype-code table,
 * operand views over host or device memory, the mask's CSR arrays and the score options.
 */
import type { DType } from '../dtypes.js';
import type { BlockMask } from '../mask/blockmask.js';
import type { ResolvedRope } from '../reference/problem.js';
import type { CudaBufferHandle, CudaView, DTypeCode, NativeMaskArgs, NativeScoreArgs, NativeView } from './bindings.js';

/** The addon's code of each element type (AttnDType in native/include/attnflow.h). */
export const DTYPE_CODE: Readonly<Record<DType, DTypeCode>> = Object.freeze({ float32: 0, float16: 1, bfloat16: 2 });

/** The addon's code of each linear-attention feature map (LinearFeatureMap in native/include/attnflow.h). */
export const FEATURE_CODE = Object.freeze({ identity: 0, elu1: 1, relu: 2, favor: 3 } as const);

/** The addon's code of each linear-attention decay kind (LinearDecay in native/include/attnflow.h). */
export const DECAY_CODE = Object.freeze({ none: 0, head: 1, step: 2, stepDim: 3 } as const);

/** A [batch, heads, seq, headDim] geometry with element strides in that logical order. */
export interface ViewGeometry {
  readonly batch: number;
  readonly heads: number;
  readonly seq: number;
  readonly headDim: number;
  readonly strides: readonly [number, number, number, number];
}

/** A view of host memory `data` of `dtype` with the given geometry. */
export function hostView(g: ViewGeometry, data: Float32Array | Uint16Array, dtype: DType): NativeView {
  return { data, dtype: DTYPE_CODE[dtype], shape: [g.batch, g.heads, g.seq, g.headDim], strides: [...g.strides], offset: 0 };
}

/** A view of the device buffer `buffer` of `dtype` with the given geometry. */
export function deviceView(g: ViewGeometry, buffer: CudaBufferHandle, dtype: DType): CudaView {
  return { buffer, dtype: DTYPE_CODE[dtype], shape: [g.batch, g.heads, g.seq, g.headDim], strides: [...g.strides], offset: 0 };
}

/** The arrays and sizes of a compiled mask, as the CPU kernels read them. */
export function maskArgs(m: BlockMask): NativeMaskArgs {
  const { seqQ, seqK, blockQ, blockK, numQBlocks, numKBlocks, heads, wordsPerRow, rowPtr, colIdx, partial, bits } = m;
  return { seqQ, seqK, blockQ, blockK, numQBlocks, numKBlocks, heads, wordsPerRow, rowPtr, colIdx, partial, bits };
}

/** The resolved score options of an attention plan, as both native backends take them. */
export function scoreArgs(p: {
  readonly scale: number;
  readonly softcap: number;
  readonly alibiSlopes: Float64Array | null;
  readonly rope: ResolvedRope | null;
}): NativeScoreArgs {
  return {
    scale: p.scale,
    softcap: p.softcap,
    alibi: p.alibiSlopes ? Float32Array.from(p.alibiSlopes) : null,
    rope: p.rope ? { base: p.rope.base, interleaved: p.rope.style === 'interleaved', offset: p.rope.offset, dims: p.rope.dims } : null,
  };
}
