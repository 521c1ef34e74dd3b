/**
 * The CUDA devices as the addon reports them: whether a device can be used (and why not), the
 * addon's CUDA functions, allocator statistics, and device copies of BlockMasks. Device memory of
 * tensors is cuda-storage.ts.
 *
 * Every failure is an Error that names the device and the reason ("cuda:0: no device (…)",
 * "cuda:1: no such device (this machine has 1 CUDA device)").
 */
import type { BlockMask } from '../mask/blockmask.js';
import { deviceIndex, parseDevice } from '../storage.js';
import { CUDA_ENTRY_POINTS, hasEntryPoints, type CudaBindings, type CudaMaskHandle, type CudaMemoryStats, type NativeCudaInfo } from './bindings.js';
import { tryLoadNative } from './load.js';

let bound: { cuda: CudaBindings; info: NativeCudaInfo } | { error: string } | undefined;

/** The addon's CUDA functions and its CUDA info, or why they are unavailable. Never throws. */
export function cudaNative(): { cuda: CudaBindings; info: NativeCudaInfo } | { error: string } {
  if (bound) return bound;
  const native = tryLoadNative();
  if ('error' in native) {
    bound = { error: `the native addon is not available (${native.error})` };
  } else if (!hasEntryPoints(native.addon, CUDA_ENTRY_POINTS)) {
    bound = { error: 'this build of the native addon has no CUDA binding' };
  } else {
    bound = { cuda: native.addon, info: native.addon.info().cuda };
  }
  return bound;
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
export function requireCuda(device: string, what: string): CudaBindings {
  const why = cudaUnavailableReason(device);
  if (why !== null) throw new Error(`${what}: ${why}`);
  return (cudaNative() as { cuda: CudaBindings }).cuda;
}

// --- masks --------------------------------------------------------------------------------------

const maskCache = new WeakMap<BlockMask, Map<number, CudaMaskHandle>>();

/**
 * The device copy of a BlockMask on device `index`, uploaded once per (mask, device) and freed
 * by the garbage collector with the mask (compiled masks are cached, so repeated calls with the
 * same pattern and shapes reuse one upload).
 */
export function deviceMask(cuda: CudaBindings, mask: BlockMask, index: number): CudaMaskHandle {
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
