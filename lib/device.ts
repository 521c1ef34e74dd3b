/**
 * CUDA device tensors: device storage behind `Tensor` (allocated by the native addon's
 * stream-ordered caching allocator, freed by `dispose()` or by the garbage collector), the
 * transfer hook that makes `tensor.to('cuda' | 'cuda:N')` work, device copies of BlockMasks, and
 * allocator statistics.
 *
 * Every failure is an Error that names the device and the reason ("cuda:0: no device (…)",
 * "cuda:1: out of memory: cannot allocate 2.00 GiB (2147483648 bytes); …").
 */
import { dtypeSize, type DType } from './dtypes.js';
import type { BlockMask } from './mask/blockmask.js';
import { tryLoadNative, type NativeAddon, type NativeCudaInfo } from './native.js';
import { Tensor, parseDevice, setDeviceTransferHook, type DeviceStorage, type HostData, type Layout } from './tensor.js';

/** An opaque native handle owning one device allocation. */
export interface CudaBufferHandle {
  readonly __brand: 'attnflow.CudaBuffer';
}
/** An opaque native handle owning a BlockMask's host and device copies. */
export interface CudaMaskHandle {
  readonly __brand: 'attnflow.CudaMask';
}

/** A device operand of the native CUDA attention call (offset in elements). */
export interface CudaView {
  buffer: CudaBufferHandle;
  /** 0 float32, 1 float16, 2 bfloat16 */
  dtype: 0 | 1 | 2;
  shape: [number, number, number, number];
  strides: [number, number, number, number];
  offset: number;
}

export interface CudaAttentionArgs {
  device: number;
  q: CudaView;
  k: CudaView;
  v: CudaView;
  out: CudaView;
  lse: { buffer: CudaBufferHandle; offset: number } | null;
  mask: CudaMaskHandle;
  scale: number;
  softcap: number;
  alibi: Float32Array | null;
  rope: { base: number; interleaved: boolean; offset: number; dims: number } | null;
  /** host arrays (see NativeAttentionArgs) */
  queryPositions?: Int32Array | null;
  queryStart?: number | null;
  keyPositions?: Int32Array | null;
  /** device float32 [batch, kvHeads, seqK] written with the key masses, or null */
  keyMass?: { buffer: CudaBufferHandle; offset: number } | null;
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

/** The CUDA functions of the native addon (native/binding/cuda.cpp). */
export interface CudaNative {
  cudaAlloc(bytes: number, device: number): CudaBufferHandle;
  cudaFree(handle: CudaBufferHandle): void;
  cudaCopyToDevice(dst: CudaBufferHandle, byteOffset: number, src: ArrayBufferView): void;
  cudaCopyToHost(src: CudaBufferHandle, byteOffset: number, dst: ArrayBufferView): void;
  cudaCopyToDeviceAsync(dst: CudaBufferHandle, byteOffset: number, src: ArrayBufferView): Promise<void>;
  cudaCopyToHostAsync(src: CudaBufferHandle, byteOffset: number, dst: ArrayBufferView): Promise<void>;
  cudaCopyDevice(dst: CudaBufferHandle, dstByteOffset: number, src: CudaBufferHandle, srcByteOffset: number, bytes: number): void;
  cudaUploadMask(mask: BlockMask, device: number): CudaMaskHandle;
  cudaAttention(args: CudaAttentionArgs): Promise<void>;
  cudaAttentionSync(args: CudaAttentionArgs): void;
  cudaMemoryStats(device: number): CudaMemoryStats;
  cudaEmptyCache(device: number): void;
  cudaSynchronize(device: number): void;
  cudaTile(): { blockQ: number; blockK: number };
}

let bound: { cuda: CudaNative; info: NativeCudaInfo } | { error: string } | undefined;

/** The addon's CUDA functions and its CUDA info, or why they are unavailable. Never throws. */
export function cudaNative(): { cuda: CudaNative; info: NativeCudaInfo } | { error: string } {
  if (bound) return bound;
  const native = tryLoadNative();
  if ('error' in native) {
    bound = { error: `the native addon is not available (${native.error})` };
  } else {
    const addon = native.addon as NativeAddon & Partial<CudaNative>;
    if (typeof addon.cudaAlloc !== 'function' || typeof addon.cudaAttention !== 'function') {
      bound = { error: 'this build of the native addon has no CUDA binding' };
    } else {
      bound = { cuda: addon as unknown as CudaNative, info: addon.info().cuda };
    }
  }
  return bound;
}

/** The CUDA ordinal of a device string ('cuda' → 0, 'cuda:N' → N). RangeError for 'cpu' or invalid strings. */
export function deviceIndex(device: string): number {
  const d = parseDevice(device);
  if (d === 'cpu') throw new RangeError(`expected a cuda device, got 'cpu'`);
  return Number(d.slice(5));
}

/**
 * Why `device` ('cuda' or 'cuda:N') cannot be used, or null when it can. The text starts with the
 * canonical device name, e.g. "cuda:0: no device (cudaGetDeviceCount: …)".
 */
export function cudaUnavailableReason(device: string): string | null {
  const dev = parseDevice(device);
  if (dev === 'cpu') return null;
  const n = cudaNative();
  if ('error' in n) return `${dev}: no device: ${n.error}`;
  const info = n.info;
  if (!info.compiled) return `${dev}: no device: the CUDA backend is ${info.reason}`;
  if (!info.available) return `${dev}: ${info.reason.startsWith('no device') ? '' : 'no device: '}${info.reason}`;
  const index = deviceIndex(dev);
  if (index >= info.devices.length) {
    const count = info.devices.length;
    return `${dev}: no such device (this machine has ${count} CUDA device${count === 1 ? '' : 's'})`;
  }
  return null;
}

/** The CUDA functions, or an Error naming the device and why it cannot be used. */
export function requireCuda(device: string, what: string): CudaNative {
  const why = cudaUnavailableReason(device);
  if (why !== null) throw new Error(`${what}: ${why}`);
  return (cudaNative() as { cuda: CudaNative }).cuda;
}

// --- storage ------------------------------------------------------------------------------------

/**
 * Device memory of one tensor: `length` elements of `dtype` on `device`.
 * @internal Used by Tensor through the DeviceStorage interface and by the CUDA backend.
 */
export class CudaStorage implements DeviceStorage {
  readonly device: string;
  readonly index: number;
  readonly bytes: number;
  #handle: CudaBufferHandle | null;

  constructor(
    private readonly cuda: CudaNative,
    device: string,
    readonly dtype: DType,
    readonly length: number,
  ) {
    this.device = parseDevice(device);
    this.index = deviceIndex(this.device);
    this.bytes = length * dtypeSize(dtype);
    if (!Number.isSafeInteger(this.bytes) || this.bytes < 0) {
      throw new RangeError(`${this.device}: cannot allocate ${length} ${dtype} elements: the size in bytes is not a safe integer`);
    }
    this.#handle = cuda.cudaAlloc(this.bytes, this.index);
  }

  /** The native handle; throws after dispose(). */
  get handle(): CudaBufferHandle {
    if (this.#handle === null) throw new Error(`${this.device} storage was disposed`);
    return this.#handle;
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  #newHost(): HostData {
    return this.dtype === 'float32' ? new Float32Array(this.length) : new Uint16Array(this.length);
  }

  /** Copies the elements into a new host array (waits for pending work on the device). */
  toHost(): HostData {
    const out = this.#newHost();
    this.cuda.cudaCopyToHost(this.handle, 0, out);
    return out;
  }

  /** toHost() on a worker thread. */
  async toHostAsync(): Promise<HostData> {
    const out = this.#newHost();
    await this.cuda.cudaCopyToHostAsync(this.handle, 0, out);
    return out;
  }

  /** Frees the device memory (stream-ordered: kernels already issued finish first). Idempotent. */
  dispose(): void {
    const h = this.#handle;
    if (h === null) return;
    this.#handle = null;
    this.cuda.cudaFree(h);
  }
}

/** The CudaStorage behind a cuda tensor, or null for host tensors and foreign storage. */
export function cudaStorageOf(t: Tensor): CudaStorage | null {
  const s = t.deviceStorage;
  return s instanceof CudaStorage ? s : null;
}

/**
 * New device storage for `length` elements. Errors name the device and the bytes asked for
 * ("cuda:0: no device (…); cannot allocate 4.00 KiB (4096 bytes)", "cuda:0: out of memory: …").
 * @internal
 */
export function allocStorage(device: string, dtype: DType, length: number): CudaStorage {
  const dev = parseDevice(device);
  if (dev === 'cpu') throw new RangeError(`expected a cuda device, got 'cpu'`);
  const n = cudaNative();
  if ('error' in n) throw new Error(`${dev}: no device: ${n.error}; cannot allocate ${length * dtypeSize(dtype)} bytes`);
  return new CudaStorage(n.cuda, dev, dtype, length);
}

/**
 * A new device tensor whose contents are undefined (for outputs every element of which a kernel
 * writes).
 * @internal
 */
export function emptyDeviceTensor(device: string, shape: readonly number[], dtype: DType, layout: Layout = 'bhsd'): Tensor {
  let n = 1;
  for (const d of shape) n *= d;
  const storage = allocStorage(device, dtype, n);
  return Tensor.fromDeviceStorage(storage, shape, { dtype, layout });
}

function moveError(src: Tensor, dev: string, e: unknown): Error {
  return new Error(`cannot move ${src.toString()} to ${dev}: ${(e as Error).message}`);
}

/** Copies a tensor (host or device) to a cuda device, synchronously. */
export function toDevice(src: Tensor, device: string): Tensor {
  const dev = parseDevice(device);
  let storage: CudaStorage;
  try {
    storage = allocStorage(dev, src.dtype, src.size);
  } catch (e) {
    throw moveError(src, dev, e);
  }
  try {
    const cuda = (cudaNative() as { cuda: CudaNative }).cuda;
    const from = src.device === 'cpu' ? null : cudaStorageOf(src);
    if (src.device === 'cpu') cuda.cudaCopyToDevice(storage.handle, 0, src.data);
    else if (from !== null) cuda.cudaCopyDevice(storage.handle, 0, from.handle, 0, storage.bytes);
    else cuda.cudaCopyToDevice(storage.handle, 0, src.deviceStorage!.toHost());
  } catch (e) {
    storage.dispose();
    throw moveError(src, dev, e);
  }
  return Tensor.fromDeviceStorage(storage, src.shape, { dtype: src.dtype, layout: src.layout });
}

/** toDevice() with the host-to-device copy on a worker thread. */
export async function toDeviceAsync(src: Tensor, device: string): Promise<Tensor> {
  if (src.device !== 'cpu') return toDevice(src, device);
  const dev = parseDevice(device);
  let storage: CudaStorage;
  try {
    storage = allocStorage(dev, src.dtype, src.size);
  } catch (e) {
    throw moveError(src, dev, e);
  }
  try {
    await (cudaNative() as { cuda: CudaNative }).cuda.cudaCopyToDeviceAsync(storage.handle, 0, src.data);
  } catch (e) {
    storage.dispose();
    throw moveError(src, dev, e);
  }
  return Tensor.fromDeviceStorage(storage, src.shape, { dtype: src.dtype, layout: src.layout });
}

let installed = false;

/**
 * Makes `tensor.to('cuda' | 'cuda:N')` copy through the native CUDA backend. Loads nothing until
 * the first transfer; on a machine without a usable device the transfer throws an Error naming
 * the device and the reason. Idempotent.
 */
export function installCudaDevices(): void {
  if (installed) return;
  installed = true;
  setDeviceTransferHook(toDevice);
}

// --- masks --------------------------------------------------------------------------------------

const maskCache = new WeakMap<BlockMask, Map<number, CudaMaskHandle>>();

/**
 * The device copy of a BlockMask on device `index`, uploaded once per (mask, device) and freed
 * by the garbage collector with the mask (compiled masks are cached, so repeated calls with the
 * same pattern and shapes reuse one upload).
 */
export function deviceMask(cuda: CudaNative, mask: BlockMask, index: number): CudaMaskHandle {
  let perDevice = maskCache.get(mask);
  if (perDevice === undefined) {
    perDevice = new Map();
    maskCache.set(mask, perDevice);
  }
  let handle = perDevice.get(index);
  if (handle === undefined) {
    handle = cuda.cudaUploadMask(mask, index);
    perDevice.set(index, handle);
  }
  return handle;
}

// --- device state -------------------------------------------------------------------------------

/** True when the CUDA backend is built in and at least one device is usable. */
export function cudaAvailable(): boolean {
  return cudaUnavailableReason('cuda:0') === null;
}

/** Number of usable CUDA devices (0 when the backend or a device is unavailable). */
export function cudaDeviceCount(): number {
  const n = cudaNative();
  return 'error' in n || !n.info.available ? 0 : n.info.devices.length;
}

/** Allocator statistics of a device (default 'cuda:0'). */
export function cudaMemoryStats(device = 'cuda:0'): CudaMemoryStats {
  return requireCuda(device, 'cudaMemoryStats').cudaMemoryStats(deviceIndex(device));
}

/** Waits for the device's work, then returns the allocator's cached (unused) memory to the driver. */
export function cudaEmptyCache(device = 'cuda:0'): void {
  requireCuda(device, 'cudaEmptyCache').cudaEmptyCache(deviceIndex(device));
}

/** Waits until everything issued on the device has finished. */
export function cudaSynchronize(device = 'cuda:0'): void {
  requireCuda(device, 'cudaSynchronize').cudaSynchronize(deviceIndex(device));
}

/** The CUDA device functions as one namespace. */
export const cuda = Object.freeze({
  isAvailable: cudaAvailable,
  deviceCount: cudaDeviceCount,
  unavailableReason: cudaUnavailableReason,
  memoryStats: cudaMemoryStats,
  emptyCache: cudaEmptyCache,
  synchronize: cudaSynchronize,
});
