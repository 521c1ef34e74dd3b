/**
 * Where a tensor's elements live: host arrays, or device storage owned by a device backend, named
 * by a device string ('cpu', 'cuda', 'cuda:N'). The contract between Tensor and the CUDA memory
 * module (lib/native/cuda-storage.ts); neither imports the other's classes through it.
 */
import { describeValue } from './describe.js';

/** Host storage of a tensor: float32 values, or raw bits of a 16-bit dtype. */
export type HostData = Float32Array | Uint16Array;

/**
 * Device memory behind a non-cpu tensor, provided by a device backend (the native addon).
 * @internal The contract between Tensor and device backends; not for end users.
 */
export interface DeviceStorage {
  /** Canonical device string, e.g. 'cuda:0'. */
  readonly device: string;
  /** Copies the elements into a new host array (Float32Array for float32, Uint16Array bits otherwise). */
  toHost(): HostData;
  /** Frees the device memory now (idempotent). */
  dispose(): void;
}

/**
 * Validates a device string and returns its canonical form: 'cpu', or 'cuda:N' ('cuda' means
 * 'cuda:0'). TypeError if not a string, RangeError if not a valid device.
 */
export function parseDevice(device: unknown): string {
  if (typeof device !== 'string') {
    throw new TypeError(`device must be a string ('cpu', 'cuda' or 'cuda:N'), got ${describeValue(device)}`);
  }
  if (device === 'cpu') return 'cpu';
  if (device === 'cuda') return 'cuda:0';
  const m = /^cuda:(0|[1-9][0-9]{0,8})$/.exec(device);
  if (m) return `cuda:${m[1]}`;
  throw new RangeError(`device must be 'cpu', 'cuda' or 'cuda:N' (N a non-negative integer), got ${JSON.stringify(device)}`);
}

/** The CUDA ordinal of a device string ('cuda' → 0, 'cuda:N' → N). RangeError for 'cpu' or invalid strings. */
export function deviceIndex(device: string): number {
  const d = parseDevice(device);
  if (d === 'cpu') throw new RangeError(`expected a cuda device, got 'cpu'`);
  return Number(d.slice(5));
}
