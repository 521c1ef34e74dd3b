/**
 * The whole JavaScript interface of the native addon (native/binding/*.cpp), in one place: what
 * each entry point takes and returns. Every other module reaches the addon through these types.
 *
 * The binding re-checks every argument it relies on (shapes, strides, lengths, dtypes); these
 * types describe what the TypeScript layer passes, not what the binding tolerates.
 */
import type { BlockMask } from '../mask/blockmask.js';

/** Native code of an element type: 0 float32, 1 float16, 2 bfloat16 (see DTYPE_CODE in views.ts). */
export type DTypeCode = 0 | 1 | 2;

/** An opaque cancel token of the addon, passed as the last argument of an async entry point (lib/abort.ts). */
export type NativeCancelToken = object & { readonly __nativeCancelToken?: never };

/** A [batch, heads, seq, headDim] view of host memory (strides in elements, logical bhsd order). */
export interface NativeView {
  data: Float32Array | Uint16Array;
  dtype: DTypeCode;
  shape: [number, number, number, number];
  strides: [number, number, number, number];
  offset: number;
}

/** The CSR arrays of a BlockMask, as the native kernels read them (BlockMaskView in attnflow.h). */
export interface NativeMaskArgs {
  seqQ: number;
  seqK: number;
  blockQ: number;
  blockK: number;
  numQBlocks: number;
  numKBlocks: number;
  heads: number;
  wordsPerRow: number;
  rowPtr: Int32Array;
  colIdx: Int32Array;
  partial: Int32Array;
  bits: Uint32Array;
}

/** Rotary embedding as the kernels take it (ResolvedRope with the style as a flag). */
export interface NativeRopeArgs {
  base: number;
  interleaved: boolean;
  offset: number;
  dims: number;
}

/** The score options shared by the host and device attention calls. */
export interface NativeScoreArgs {
  scale: number;
  softcap: number;
  alibi: Float32Array | null;
  rope: NativeRopeArgs | null;
}

/** The argument object of attention / attentionSync (native/binding/addon.cpp). */
export interface NativeAttentionArgs extends NativeScoreArgs {
  q: NativeView;
  k: NativeView;
  v: NativeView;
  out: NativeView;
  lse: Float32Array | null;
  mask: NativeMaskArgs;
  /** one position per query row, or null: query i at queryStart + i */
  queryPositions?: Int32Array | null;
  /** null / absent: bottom-right (seqK − seqQ) */
  queryStart?: number | null;
  /** seqK or kvHeads × seqK key positions (negative: empty slot), or null: key j at j */
  keyPositions?: Int32Array | null;
  /** float32 [batch, kvHeads, seqK] written with each key's attention mass, or null */
  keyMass?: Float32Array | null;
}

/** The argument object of questSelect (see attnflow::QuestSelectParams in native/include/attnflow.h). */
export interface NativeQuestSelectArgs {
  q: Float32Array;
  rows: number;
  headDim: number;
  min: Float32Array;
  max: Float32Array;
  boundsOffset: number;
  numBlocks: number;
  /** per block: 0 never, 1 ranked, 2 always */
  flags: Uint8Array;
  blocks: number;
}

/** The argument object of the linear-attention entry points (native/binding/linear.cpp). */
export interface NativeLinearArgs {
  q: NativeView;
  k: NativeView;
  v: NativeView;
  /** logical [B, Hq, N, Dv] view of the output */
  out: NativeView;
  featureMap: 0 | 1 | 2 | 3;
  favorWeights: Float32Array | null;
  features: number;
  decay: 0 | 1 | 2 | 3;
  decayHead: Float32Array | null;
  gates: Float32Array | null;
  gateStrides: [number, number, number, number];
  normalize: boolean;
  eps: number;
  initS: Float32Array | null;
  initZ: Float32Array | null;
  stateS: Float32Array | null;
  stateZ: Float32Array | null;
  chunk: number;
}

export interface NativeCpuInfo {
  avx2: boolean;
  fma: boolean;
  f16c: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512dq: boolean;
  avx512vl: boolean;
  avx512bf16: boolean;
  neon: boolean;
  threads: number;
  /**
   * the kernel calls run on ('avx2', 'neon', 'portable', …: native/cpu/isa.h), or null when
   * ATTNFLOW_CPU_ISA names one this build lacks or this CPU cannot run (kernelError says which)
   */
  kernel: string | null;
  /** floats per vector of that kernel */
  kernelLanes?: number;
  kernelError?: string;
  /** every CPU kernel of this build, best first */
  kernels?: NativeCpuKernel[];
  tile: { blockQ: number; blockK: number };
}

/** One CPU kernel of the addon: an instruction set's attention and linear-attention kernels. */
export interface NativeCpuKernel {
  /** the value of ATTNFLOW_CPU_ISA that selects it */
  name: string;
  /** floats per vector */
  lanes: number;
  /** whether this CPU can run it */
  supported: boolean;
  /** supported, and chosen by default where it comes first (avx512bf16 only where its dot products pay) */
  preferred: boolean;
  /** what it needs of the CPU */
  needs: string;
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface NativeCudaInfo {
  compiled: boolean;
  available: boolean;
  reason: string;
  runtimeVersion: number;
  driverVersion: number;
  devices: NativeCudaDevice[];
}

/** An opaque native handle owning one device allocation. */
export interface CudaBufferHandle {
  readonly __brand: 'attnflow.CudaBuffer';
}

/** An opaque native handle owning a BlockMask's host and device copies. */
export interface CudaMaskHandle {
  readonly __brand: 'attnflow.CudaMask';
}

/** A device operand of the CUDA attention call (offset in elements). */
export interface CudaView {
  buffer: CudaBufferHandle;
  dtype: DTypeCode;
  shape: [number, number, number, number];
  strides: [number, number, number, number];
  offset: number;
}

/** The argument object of cudaAttention / cudaAttentionSync (native/binding/cuda.cpp). */
export interface CudaAttentionArgs extends NativeScoreArgs {
  device: number;
  q: CudaView;
  k: CudaView;
  v: CudaView;
  out: CudaView;
  lse: { buffer: CudaBufferHandle; offset: number } | null;
  mask: CudaMaskHandle;
  /** host arrays (see NativeAttentionArgs) */
  queryPositions?: Int32Array | null;
  queryStart?: number | null;
  keyPositions?: Int32Array | null;
  /** device float32 [batch, kvHeads, seqK] written with the key masses, or null */
  keyMass?: { buffer: CudaBufferHandle; offset: number } | null;
}

/** A device float32 array: { buffer, offset } (offset in floats). */
export interface CudaFloats {
  buffer: CudaBufferHandle;
  offset: number;
}

/**
 * The argument object of cudaLinearAttention / cudaLinearAttentionSync (native/binding/
 * cuda_linear.cpp): the arguments of the host entry points with q, k, v, out, the gates and the
 * state in device memory; the favor weights and per-head decays stay host arrays.
 */
export interface CudaLinearArgs extends Omit<NativeLinearArgs, 'q' | 'k' | 'v' | 'out' | 'gates' | 'initS' | 'initZ' | 'stateS' | 'stateZ'> {
  device: number;
  q: CudaView;
  k: CudaView;
  v: CudaView;
  out: CudaView;
  gates: CudaFloats | null;
  initS: CudaFloats | null;
  initZ: CudaFloats | null;
  stateS: CudaFloats | null;
  stateZ: CudaFloats | null;
}

export interface CudaMemoryStats {
  /** 'cuda:N' */
  device: string;
  /** bytes in live allocations (tensors, masks, workspaces in flight) */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  /** number of live allocations */
  allocations: number;
  /** bytes the allocator's pool holds from the driver: live plus cached for reuse */
  reservedBytes: number;
  /** free and total device memory (cudaMemGetInfo) */
  freeBytes: number;
  totalBytes: number;
}

/** The CUDA functions of the addon (native/binding/cuda.cpp; stubs that report "no device" in a build without CUDA). */
export interface CudaBindings {
  cudaAlloc(bytes: number, device: number): CudaBufferHandle;
  cudaFree(handle: CudaBufferHandle): void;
  cudaCopyToDevice(dst: CudaBufferHandle, byteOffset: number, src: ArrayBufferView): void;
  cudaCopyToHost(src: CudaBufferHandle, byteOffset: number, dst: ArrayBufferView): void;
  /** `token`: a cancel token (lib/abort.ts), here and in every async entry point */
  cudaCopyToDeviceAsync(dst: CudaBufferHandle, byteOffset: number, src: ArrayBufferView, token?: NativeCancelToken): Promise<void>;
  cudaCopyToHostAsync(src: CudaBufferHandle, byteOffset: number, dst: ArrayBufferView, token?: NativeCancelToken): Promise<void>;
  cudaCopyDevice(dst: CudaBufferHandle, dstByteOffset: number, src: CudaBufferHandle, srcByteOffset: number, bytes: number): void;
  cudaUploadMask(mask: BlockMask, device: number): CudaMaskHandle;
  cudaAttention(args: CudaAttentionArgs, token?: NativeCancelToken): Promise<void>;
  cudaAttentionSync(args: CudaAttentionArgs): void;
  /** linear attention on device memory (native/binding/cuda_linear.cpp) */
  cudaLinearAttention(args: CudaLinearArgs, token?: NativeCancelToken): Promise<void>;
  cudaLinearAttentionSync(args: CudaLinearArgs): void;
  cudaMemoryStats(device: number): CudaMemoryStats;
  cudaEmptyCache(device: number): void;
  cudaSynchronize(device: number): void;
  cudaTile(): { blockQ: number; blockK: number };
}

/** The linear-attention functions of the addon (native/binding/linear.cpp). */
export interface LinearBindings {
  linearAttentionSync(args: NativeLinearArgs): void;
  linearAttention(args: NativeLinearArgs, token?: NativeCancelToken): Promise<void>;
}

/** Everything the addon exports. */
export interface AddonBindings extends CudaBindings, LinearBindings {
  info(): { cpu: NativeCpuInfo; cuda: NativeCudaInfo };
  attentionSync(args: NativeAttentionArgs): void;
  attention(args: NativeAttentionArgs, token?: NativeCancelToken): Promise<void>;
  /** the kept blocks of one query-aware selection row, ascending (lib/select/quest.ts) */
  questSelect(args: NativeQuestSelectArgs): Int32Array;
  /** a new cancel token for one async call (native/binding/worker.cpp) */
  cancelToken(): NativeCancelToken;
  /** cancels the call holding `token`: it rejects with code 'ABORT_ERR' */
  cancel(token: NativeCancelToken): void;
}

/** The entry points of each group, for telling an addon built from older sources apart. */
export const CUDA_ENTRY_POINTS: readonly (keyof CudaBindings)[] = [
  'cudaAlloc',
  'cudaFree',
  'cudaCopyToDevice',
  'cudaCopyToHost',
  'cudaCopyToDeviceAsync',
  'cudaCopyToHostAsync',
  'cudaCopyDevice',
  'cudaUploadMask',
  'cudaAttention',
  'cudaAttentionSync',
  'cudaLinearAttention',
  'cudaLinearAttentionSync',
  'cudaMemoryStats',
  'cudaEmptyCache',
  'cudaSynchronize',
  'cudaTile',
];
export const LINEAR_CPU_ENTRY_POINTS: readonly (keyof LinearBindings)[] = ['linearAttentionSync', 'linearAttention'];
export const LINEAR_CUDA_ENTRY_POINTS: readonly (keyof CudaBindings)[] = ['cudaLinearAttention', 'cudaLinearAttentionSync'];

/** Whether `addon` has every function named (an addon built from older sources may lack some). */
export function hasEntryPoints(addon: object, names: readonly string[]): boolean {
  return names.every((n) => typeof (addon as Record<string, unknown>)[n] === 'function');
}
