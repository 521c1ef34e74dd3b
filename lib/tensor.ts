/**
 * Tensor: a typed, shaped view of element storage, on the host ('cpu') or on a CUDA device
 * ('cuda' / 'cuda:N', memory of the native addon: lib/native/cuda-storage.ts).
 *
 * Host storage is a `Float32Array` (dtype 'float32') or a `Uint16Array` of raw 16-bit patterns
 * (dtype 'float16' or 'bfloat16'). `Tensor.from` wraps the caller's array without copying: the
 * tensor and the caller share memory, so writes through either are visible through the other.
 * Nothing else in this module ever writes to memory the caller passed in.
 */

import { constants as bufferConstants } from 'node:buffer';
import { DTYPES, isDType, encode16, decode16, type DType } from './dtypes.js';
import { Rng } from './rng.js';
import { describeValue } from './describe.js';
import { copyToCuda } from './native/cuda-storage.js';
import { parseDevice, type DeviceStorage, type HostData } from './storage.js';

export type { DType } from './dtypes.js';

/** Memory layout of a 4-D attention tensor: 'bhsd' = [batch, heads, seq, headDim] (default), 'bshd' = [batch, seq, heads, headDim]. */
export type Layout = 'bhsd' | 'bshd';

export const LAYOUTS: readonly Layout[] = ['bhsd', 'bshd'];

/**
 * What `Tensor.from` accepts: a Float32Array, a Uint16Array of raw 16-bit bits, a Float16Array
 * (where the runtime has one; typed here as an ArrayBufferView since TypeScript's ES2023 library
 * lacks it), or a plain array of numbers.
 */
export type TensorData = Float32Array | Uint16Array | ArrayBufferView | readonly number[];

export interface TensorOptions {
  /** Element type. Default: inferred from the data ('float32' for Float32Array and number[]). */
  dtype?: DType;
  /** Layout of a 4-D tensor's shape. Default 'bhsd'. */
  layout?: Layout;
}

export interface RandnOptions extends TensorOptions {
  /** Seed (an integer); required, so that random tensors are reproducible. */
  seed: number;
}

/** Logical [batch, heads, seq, headDim] view of a 4-D tensor, whatever its layout. */
export interface Dims4 {
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
  /** Element strides in logical bhsd order: [batch, heads, seq, headDim]. */
  strides: readonly [number, number, number, number];
}

/** Copies a tensor to a device: receives the source tensor and the canonical device string. */
export type DeviceTransferHook = (t: Tensor, device: string) => Tensor;

let transferOverride: DeviceTransferHook | null = null;

/**
 * @internal A test seam: makes `tensor.to('cuda…')` call `fn` instead of copying through the
 * native CUDA memory module (tests of Tensor's device semantics use a fake storage); null
 * restores the native copy. `fn` should return a new tensor (see `Tensor.fromDeviceStorage`)
 * holding a copy of the source on the requested device.
 */
export function setDeviceTransferHook(fn: DeviceTransferHook | null): void {
  if (fn !== null && typeof fn !== 'function') {
    throw new TypeError(`setDeviceTransferHook: fn must be a function or null, got ${describeValue(fn)}`);
  }
  transferOverride = fn;
}

const PRIVATE = Symbol('Tensor.private');
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

function float16ArrayCtor(): (abstract new (...args: never[]) => ArrayBufferView) | undefined {
  const c = (globalThis as { Float16Array?: unknown }).Float16Array;
  return typeof c === 'function' ? (c as abstract new (...args: never[]) => ArrayBufferView) : undefined;
}

function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape)) {
    throw new TypeError(`${where}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  }
  const out: number[] = [];
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number') {
      throw new TypeError(`${where}: shape[${i}] must be a number, got ${describeValue(d)}`);
    }
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${where}: shape[${i}] must be a non-negative integer, got ${String(d)}`);
    }
    out.push(d);
    size *= d;
  }
  if (!Number.isSafeInteger(size)) {
    throw new RangeError(`${where}: shape [${out.join(', ')}] has too many elements`);
  }
  return out;
}

function checkOptions(opts: unknown, where: string): { dtype: DType | undefined; layout: Layout } {
  if (opts === undefined || opts === null) return { dtype: undefined, layout: 'bhsd' };
  if (typeof opts !== 'object') throw new TypeError(`${where}: options must be an object, got ${describeValue(opts)}`);
  const o = opts as { dtype?: unknown; layout?: unknown };
  let dtype: DType | undefined;
  if (o.dtype !== undefined) {
    if (!isDType(o.dtype)) {
      throw new TypeError(`${where}: dtype must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}, got ${describeValue(o.dtype)}`);
    }
    dtype = o.dtype;
  }
  let layout: Layout = 'bhsd';
  if (o.layout !== undefined) {
    if (o.layout !== 'bhsd' && o.layout !== 'bshd') {
      throw new RangeError(`${where}: layout must be 'bhsd' or 'bshd', got ${describeValue(o.layout)}`);
    }
    layout = o.layout;
  }
  return { dtype, layout };
}

/**
 * The most elements of a host tensor: V8's limit on a typed array's length on this Node
 * (buffer.constants.MAX_LENGTH: 2^32 on Node 20 and 64-bit; larger on later versions), capped at
 * 2^32 − 1 so that the limit, and what native code may assume of a length, is the same everywhere.
 */
export const MAX_HOST_ELEMENTS = Math.min(2 ** 32 - 1, bufferConstants.MAX_LENGTH);

/** Throws a RangeError naming `where` and the shape when a host tensor of `dims` cannot exist. */
function checkHostSize(dims: readonly number[], dtype: DType, where: string): number {
  const n = product(dims);
  if (n > MAX_HOST_ELEMENTS) {
    throw new RangeError(
      `${where}: shape ${fmtShape(dims)} has ${n} elements, more than a ${dtype} tensor can hold (max ${MAX_HOST_ELEMENTS})`,
    );
  }
  return n;
}

/**
 * Runs `alloc` (which makes host storage for `dims`), turning an allocation failure (the memory
 * is not there) into a RangeError naming `where`, the shape and the bytes asked for.
 */
function allocating<T>(dims: readonly number[], dtype: DType, where: string, alloc: () => T): T {
  try {
    return alloc();
  } catch (e) {
    if (e instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(e.message)) {
      const bytes = product(dims) * (dtype === 'float32' ? 4 : 2);
      throw new RangeError(
        `${where}: cannot allocate a ${dtype} tensor of shape ${fmtShape(dims)} (${bytes} bytes, ${(bytes / 2 ** 30).toFixed(1)} GiB): the memory is not available`,
        { cause: e },
      );
    }
    throw e;
  }
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Converts numbers to new storage of the dtype (always a new array). */
function convert(values: ArrayLike<number>, dtype: DType): HostData {
  if (dtype === 'float32') return Float32Array.from(values);
  return encode16(values, dtype);
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export class Tensor {
  /** Element type. */
  readonly dtype: DType;
  /** Shape in the layout's order (frozen). */
  readonly shape: readonly number[];
  /** Layout of a 4-D shape ('bhsd' unless given). */
  readonly layout: Layout;
  /** Canonical device: 'cpu' or 'cuda:N'. */
  readonly device: string;
  /** Number of elements. */
  readonly size: number;
  /** Contiguous row-major element strides of `shape` (frozen). */
  readonly strides: readonly number[];

  #host: HostData | null;
  #storage: DeviceStorage | null;
  #disposed = false;

  /** @internal Use Tensor.from, Tensor.randn, Tensor.zeros, Tensor.fromFloat32 or Tensor.fromDeviceStorage. */
  private constructor(
    token: typeof PRIVATE,
    shape: number[],
    dtype: DType,
    layout: Layout,
    host: HostData | null,
    storage: DeviceStorage | null,
  ) {
    if (token !== PRIVATE) throw new TypeError('Tensor: use Tensor.from, Tensor.randn or Tensor.zeros');
    this.dtype = dtype;
    this.shape = Object.freeze(shape);
    this.layout = layout;
    this.#host = host;
    this.#storage = storage;
    this.device = storage ? storage.device : 'cpu';
    this.size = product(shape);
    const strides = new Array<number>(shape.length);
    let s = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      strides[i] = s;
      s *= shape[i];
    }
    this.strides = Object.freeze(strides);
  }

  /**
   * Makes a tensor from data and a shape.
   *
   * - `Float32Array`: dtype 'float32'; wrapped without copying (shares memory with the caller).
   *   If `dtype` is given as 'float16' or 'bfloat16', the values are instead converted (rounded
   *   to nearest even) into a new Uint16Array: a copy.
   * - `Uint16Array`: raw bits of a 16-bit dtype, which must be given explicitly ('float16' or
   *   'bfloat16'); wrapped without copying.
   * - `Float16Array` (where the runtime has one): dtype 'float16'; its buffer is viewed as a
   *   Uint16Array without copying. With another dtype the values are converted into a copy.
   * - `number[]`: copied and converted to `dtype` (default 'float32').
   *
   * `shape` lists non-negative integers whose product must equal the data's length. `layout`
   * ('bhsd' default, or 'bshd') says how a 4-D shape is ordered.
   */
  static from(data: TensorData, shape: readonly number[], options?: TensorOptions): Tensor {
    const where = 'Tensor.from';
    const dims = checkShape(shape, where);
    const { dtype: wanted, layout } = checkOptions(options, where);
    let host: HostData;
    let dtype: DType;
    const F16 = float16ArrayCtor();
    if (F16 !== undefined && data instanceof F16) {
      const view = data as ArrayBufferView & { length: number };
      if (wanted === undefined || wanted === 'float16') {
        host = new Uint16Array(view.buffer, view.byteOffset, view.length);
        dtype = 'float16';
      } else {
        host = convert(view as unknown as ArrayLike<number>, wanted);
        dtype = wanted;
      }
    } else if (data instanceof Float32Array) {
      if (wanted === undefined || wanted === 'float32') {
        host = data;
        dtype = 'float32';
      } else {
        host = encode16(data, wanted);
        dtype = wanted;
      }
    } else if (data instanceof Uint16Array) {
      if (wanted !== 'float16' && wanted !== 'bfloat16') {
        throw new TypeError(
          `${where}: a Uint16Array holds raw 16-bit bits, so dtype must be given as 'float16' or 'bfloat16'` +
            (wanted === undefined ? '' : `, got '${wanted}'`),
        );
      }
      host = data;
      dtype = wanted;
    } else if (Array.isArray(data)) {
      for (let i = 0; i < data.length; i++) {
        if (typeof data[i] !== 'number') {
          throw new TypeError(`${where}: data[${i}] must be a number, got ${describeValue(data[i])}`);
        }
      }
      dtype = wanted ?? 'float32';
      host = convert(data as readonly number[], dtype);
    } else {
      throw new TypeError(
        `${where}: data must be a Float32Array, a Uint16Array (16-bit bits), a Float16Array or an array of numbers, got ${describeValue(data)}` +
          ' (use Tensor.fromFloat32 to convert other arrays)',
      );
    }
    const expected = product(dims);
    if (host.length !== expected) {
      throw new RangeError(
        `${where}: data has ${host.length} elements but shape ${fmtShape(dims)} needs ${expected} (expected length ${expected}, got ${host.length})`,
      );
    }
    return new Tensor(PRIVATE, dims, dtype, layout, host, null);
  }

  /**
   * Converts numbers (any ArrayLike: number[], Float64Array, Float32Array, …) into a new tensor of
   * the dtype (default 'float32'), rounding to nearest even. Always copies. A TypeError names the
   * first entry that is not a number (typed arrays of numbers are not checked element by element).
   */
  static fromFloat32(values: ArrayLike<number>, shape: readonly number[], options?: TensorOptions): Tensor {
    const where = 'Tensor.fromFloat32';
    const dims = checkShape(shape, where);
    const { dtype = 'float32', layout } = checkOptions(options, where);
    if (values === null || typeof values !== 'object' || typeof (values as { length?: unknown }).length !== 'number') {
      throw new TypeError(`${where}: values must be an array-like of numbers, got ${describeValue(values)}`);
    }
    const expected = checkHostSize(dims, dtype, where);
    if (values.length !== expected) {
      throw new RangeError(
        `${where}: values has ${values.length} elements but shape ${fmtShape(dims)} needs ${expected} (expected length ${expected}, got ${values.length})`,
      );
    }
    if (ArrayBuffer.isView(values)) {
      // a typed array of numbers needs no per-element check; one of bigints converts to none
      if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
        throw new TypeError(`${where}: values must hold numbers, got ${describeValue(values)}`);
      }
    } else {
      for (let i = 0; i < expected; i++) {
        const v: unknown = values[i];
        if (typeof v !== 'number') throw new TypeError(`${where}: values[${i}] must be a number, got ${describeValue(v)}`);
      }
    }
    return new Tensor(PRIVATE, dims, dtype, layout, allocating(dims, dtype, where, () => convert(values, dtype)), null);
  }

  /**
   * A new tensor of zeros (dtype default 'float32'). Like every constructor that allocates host
   * memory, RangeError for a shape of more than MAX_HOST_ELEMENTS elements or one whose memory
   * cannot be allocated.
   */
  static zeros(shape: readonly number[], options?: TensorOptions): Tensor {
    const where = 'Tensor.zeros';
    const dims = checkShape(shape, where);
    const { dtype = 'float32', layout } = checkOptions(options, where);
    const n = checkHostSize(dims, dtype, where);
    // +0 is all-zero bits in every dtype
    const host = allocating(dims, dtype, where, () => (dtype === 'float32' ? new Float32Array(n) : new Uint16Array(n)));
    return new Tensor(PRIVATE, dims, dtype, layout, host, null);
  }

  /**
   * A new tensor of seeded standard normal values: drawn in float32 (the same values for every
   * dtype), then rounded to the dtype (nearest even). `seed` is required and must be an integer.
   */
  static randn(shape: readonly number[], options: RandnOptions): Tensor {
    const where = 'Tensor.randn';
    const dims = checkShape(shape, where);
    const { dtype = 'float32', layout } = checkOptions(options, where);
    const seed = (options as { seed?: unknown } | undefined)?.seed;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
      throw new TypeError(`${where}: seed is required and must be an integer, got ${describeValue(seed)}`);
    }
    const n = checkHostSize(dims, dtype, where);
    const rng = new Rng(seed);
    let host: HostData;
    if (dtype === 'float32') {
      const vals = allocating(dims, dtype, where, () => new Float32Array(n));
      for (let i = 0; i < n; i++) vals[i] = rng.normal();
      host = vals;
    } else {
      // drawn into float32 a chunk at a time (no float32 copy of the whole tensor), then rounded
      const bits = allocating(dims, dtype, where, () => new Uint16Array(n));
      const chunk = new Float32Array(Math.min(n, 4096));
      for (let i0 = 0; i0 < n; i0 += chunk.length) {
        const len = Math.min(chunk.length, n - i0);
        for (let i = 0; i < len; i++) chunk[i] = rng.normal();
        encode16(chunk.subarray(0, len), dtype, bits.subarray(i0, i0 + len));
      }
      host = bits;
    }
    return new Tensor(PRIVATE, dims, dtype, layout, host, null);
  }

  /**
   * Wraps device memory owned by a backend into a tensor on `storage.device`.
   * @internal For device backends (the native addon); the tensor takes ownership of `storage`.
   */
  static fromDeviceStorage(storage: DeviceStorage, shape: readonly number[], options: { dtype: DType; layout?: Layout }): Tensor {
    const where = 'Tensor.fromDeviceStorage';
    const dims = checkShape(shape, where);
    const { dtype, layout } = checkOptions(options, where);
    if (dtype === undefined) throw new TypeError(`${where}: dtype is required`);
    const device = parseDevice(storage.device);
    if (device === 'cpu') throw new RangeError(`${where}: storage.device must be a cuda device, got 'cpu'`);
    return new Tensor(PRIVATE, dims, dtype, layout, null, storage);
  }

  /** True once `dispose()` has been called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  #checkAlive(what: string): void {
    if (this.#disposed) throw new Error(`${what}: ${this.toString()} was disposed`);
  }

  /**
   * Host storage: a Float32Array (float32) or a Uint16Array of raw bits (float16, bfloat16), in
   * storage order. For a tensor made by `Tensor.from` this is the caller's own memory. Throws for
   * device tensors (use `toFloat32()` or `to('cpu')`) and after `dispose()`.
   */
  get data(): HostData {
    this.#checkAlive('tensor.data');
    if (this.#host === null) {
      throw new Error(`tensor.data is only available on the host; ${this.toString()} lives on ${this.device} (use .toFloat32() or .to('cpu'))`);
    }
    return this.#host;
  }

  /**
   * Device memory of a non-cpu tensor, or null for a cpu tensor.
   * @internal For device backends.
   */
  get deviceStorage(): DeviceStorage | null {
    this.#checkAlive('tensor.deviceStorage');
    return this.#storage;
  }

  /** The values as a NEW Float32Array in storage order (always a copy, from any dtype or device). */
  toFloat32(): Float32Array {
    this.#checkAlive('tensor.toFloat32()');
    const host = this.#host ?? this.#storage!.toHost();
    if (this.dtype === 'float32') {
      return this.#host === null ? (host as Float32Array) : new Float32Array(host as Float32Array);
    }
    return decode16(host as Uint16Array, this.dtype);
  }

  /**
   * Copies the tensor to a device: 'cpu' (a new host buffer), 'cuda' or 'cuda:N' (device memory
   * of the native addon; an Error naming the device and the reason where it cannot be used).
   * Always returns a new tensor.
   */
  to(device: string): Tensor {
    const dev = parseDevice(device);
    this.#checkAlive(`tensor.to(${JSON.stringify(device)})`);
    if (dev === 'cpu') {
      let host: HostData;
      if (this.#host !== null) host = this.#host.slice();
      else {
        const h = this.#storage!.toHost();
        host = h;
      }
      return new Tensor(PRIVATE, [...this.shape], this.dtype, this.layout, host, null);
    }
    if (transferOverride === null) {
      // errors name the tensor, the device and the reason ("cannot move Tensor(…) to cuda:0: cuda:0: no device …")
      return new Tensor(PRIVATE, [...this.shape], this.dtype, this.layout, null, copyToCuda(this, dev));
    }
    const out = transferOverride(this, dev);
    if (!(out instanceof Tensor)) throw new TypeError(`device transfer hook returned ${describeValue(out)}, not a Tensor`);
    return out;
  }

  /**
   * Releases the tensor's storage reference (frees device memory now, for device tensors).
   * Afterwards `data`, `toFloat32()` and `to()` throw. Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#host = null;
    const s = this.#storage;
    this.#storage = null;
    s?.dispose();
  }

  /** Logical [batch, heads, seq, headDim] sizes and strides of a 4-D tensor, from its layout. */
  dims4(): Dims4 {
    if (this.shape.length !== 4) {
      throw new RangeError(`dims4: expected a 4-D tensor, got ${this.shape.length}-D shape ${fmtShape(this.shape)}`);
    }
    const [a, b, c, d] = this.shape;
    const [sa, sb, sc, sd] = this.strides;
    if (this.layout === 'bshd') {
      // shape [B, S, H, D]
      return { batch: a, heads: c, seq: b, headDim: d, strides: Object.freeze([sa, sc, sb, sd] as const) };
    }
    return { batch: a, heads: b, seq: c, headDim: d, strides: Object.freeze([sa, sb, sc, sd] as const) };
  }

  /** e.g. `Tensor(float16, [1, 8, 128, 64], bhsd, cpu)`. */
  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}, ${this.layout}, ${this.device}${this.#disposed ? ', disposed' : ''})`;
  }

  get [Symbol.toStringTag](): string {
    return 'Tensor';
  }

  [INSPECT](): string {
    return this.toString();
  }
}
