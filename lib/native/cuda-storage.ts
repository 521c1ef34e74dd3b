/**
 * Device memory of CUDA tensors: storage allocated by the addon's stream-ordered caching
 * allocator (freed by `dispose()` or by the garbage collector), and the copies that move a
 * tensor's elements onto a device. Works on storage and plain arrays only: Tensor (lib/tensor.ts)
 * wraps what it returns, so neither module needs the other's class.
 *
 * Every failure is an Error that names the device and the reason ("cuda:0: no device (…); cannot
 * allocate 4096 bytes", "cuda:1: out of memory: cannot allocate 2.00 GiB (2147483648 bytes); …").
 */
import { nativeCall, throwIfAborted } from '../abort.js';
import { dtypeSize, type DType } from '../dtypes.js';
import { deviceIndex, parseDevice, type DeviceStorage, type HostData } from '../storage.js';
import type { CudaBindings, CudaBufferHandle } from './bindings.js';
import { cudaNative } from './cuda.js';

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
    private readonly cuda: CudaBindings,
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

  /** toHost() on a thread of the addon; `signal` aborts it (lib/abort.ts). */
  async toHostAsync(signal?: AbortSignal): Promise<HostData> {
    const out = this.#newHost();
    const handle = this.handle;
    await nativeCall(signal, (token) => this.cuda.cudaCopyToHostAsync(handle, 0, out, token));
    return out;
  }

  /** Copies the elements into `dst` (a host array of the storage's length and element size). */
  copyToHost(dst: HostData): void {
    this.cuda.cudaCopyToHost(this.handle, 0, dst);
  }

  /** copyToHost() on a thread of the addon; `signal` aborts it (lib/abort.ts). */
  copyToHostAsync(dst: HostData, signal?: AbortSignal): Promise<void> {
    const handle = this.handle;
    return nativeCall(signal, (token) => this.cuda.cudaCopyToHostAsync(handle, 0, dst, token));
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
export function cudaStorageOf(t: { readonly deviceStorage: DeviceStorage | null }): CudaStorage | null {
  const s = t.deviceStorage;
  return s instanceof CudaStorage ? s : null;
}

/**
 * New device storage for `length` elements. Errors name the device and the bytes asked for
 * ("cuda:0: no device (…); cannot allocate 4096 bytes", "cuda:0: out of memory: …").
 * @internal
 */
export function allocStorage(device: string, dtype: DType, length: number): CudaStorage {
  const dev = parseDevice(device);
  if (dev === 'cpu') throw new RangeError(`expected a cuda device, got 'cpu'`);
  const n = cudaNative();
  if ('error' in n) throw new Error(`${dev}: no device: ${n.error}; cannot allocate ${length * dtypeSize(dtype)} bytes`);
  return new CudaStorage(n.cuda, dev, dtype, length);
}

/** What a copy onto a device reads: a tensor, seen through the fields it needs (Tensor has them). */
export interface TransferSource {
  readonly dtype: DType;
  readonly size: number;
  readonly device: string;
  /** host elements; read only when `device` is 'cpu' */
  readonly data: HostData;
  readonly deviceStorage: DeviceStorage | null;
  toString(): string;
}

function moveError(src: TransferSource, dev: string, e: unknown): Error {
  return new Error(`cannot move ${src.toString()} to ${dev}: ${(e as Error).message}`);
}

function allocFor(src: TransferSource, dev: string): CudaStorage {
  try {
    return allocStorage(dev, src.dtype, src.size);
  } catch (e) {
    throw moveError(src, dev, e);
  }
}

/** A copy of a tensor's elements (host or device) on a cuda device, synchronously. */
export function copyToCuda(src: TransferSource, device: string): CudaStorage {
  const dev = parseDevice(device);
  const storage = allocFor(src, dev);
  try {
    const cuda = (cudaNative() as { cuda: CudaBindings }).cuda;
    const from = src.device === 'cpu' ? null : cudaStorageOf(src);
    if (src.device === 'cpu') cuda.cudaCopyToDevice(storage.handle, 0, src.data);
    else if (from !== null) cuda.cudaCopyDevice(storage.handle, 0, from.handle, 0, storage.bytes);
    else cuda.cudaCopyToDevice(storage.handle, 0, src.deviceStorage!.toHost());
  } catch (e) {
    storage.dispose();
    throw moveError(src, dev, e);
  }
  return storage;
}

/** copyToCuda() with the host-to-device copy on a thread of the addon; `signal` aborts it (lib/abort.ts). */
export async function copyToCudaAsync(src: TransferSource, device: string, signal?: AbortSignal): Promise<CudaStorage> {
  throwIfAborted(signal);
  if (src.device !== 'cpu') return copyToCuda(src, device);
  const dev = parseDevice(device);
  const storage = allocFor(src, dev);
  try {
    const cuda = (cudaNative() as { cuda: CudaBindings }).cuda;
    await nativeCall(signal, (token) => cuda.cudaCopyToDeviceAsync(storage.handle, 0, src.data, token));
  } catch (e) {
    storage.dispose();
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw moveError(src, dev, e);
  }
  return storage;
}
