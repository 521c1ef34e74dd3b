import { describe, it, expect, afterEach, vi } from 'vitest';
import { inspect } from 'node:util';
import { Tensor, setDeviceTransferHook } from '../lib/tensor.js';
import { parseDevice, type DeviceStorage, type HostData } from '../lib/storage.js';
import { cudaAvailable } from '../lib/native/cuda.js';
import { float32ToFloat16Bits, float32ToBfloat16Bits, roundToDType, decode16 } from '../lib/dtypes.js';

/** Asserts fn throws an instance of cls whose message contains every given fragment. */
function expectThrow(fn: () => unknown, cls: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, ...fragments: (string | RegExp)[]) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a throw').toBeInstanceOf(cls);
  expect((err as Error).constructor).toBe(cls);
  for (const f of fragments) expect((err as Error).message).toMatch(f);
}

afterEach(() => {
  setDeviceTransferHook(null);
  vi.unstubAllGlobals();
});

describe('Tensor.from', () => {
  it('wraps a Float32Array without copying', () => {
    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = Tensor.from(a, [2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.strides).toEqual([3, 1]);
    expect(t.device).toBe('cpu');
    expect(t.layout).toBe('bhsd');
    expect(t.data).toBe(a);
    a[0] = 42; // the caller's writes show through the tensor
    expect(t.data[0]).toBe(42);
    (t.data as Float32Array)[5] = -1; // and the tensor's through the caller's array
    expect(a[5]).toBe(-1);
  });

  it('wraps a subarray view, keeping its offset', () => {
    const base = new Float32Array(10).map((_, i) => i);
    const view = base.subarray(2, 8);
    const t = Tensor.from(view, [6]);
    expect(t.data).toBe(view);
    expect(Array.from(t.toFloat32())).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it.each(['float16', 'bfloat16'] as const)('wraps a Uint16Array of %s bits without copying', (dtype) => {
    const bits = new Uint16Array(4);
    const t = Tensor.from(bits, [1, 1, 2, 2], { dtype });
    expect(t.dtype).toBe(dtype);
    expect(t.data).toBe(bits);
    bits[3] = dtype === 'float16' ? 0x3c00 : 0x3f80; // 1.0
    expect(Array.from(t.toFloat32())).toEqual([0, 0, 0, 1]);
  });

  it('requires an explicit 16-bit dtype for a Uint16Array', () => {
    const bits = new Uint16Array(2);
    expectThrow(() => Tensor.from(bits, [2]), TypeError, 'Uint16Array', 'dtype', "'float16'", "'bfloat16'");
    expectThrow(() => Tensor.from(bits, [2], {}), TypeError, 'dtype');
    expectThrow(() => Tensor.from(bits, [2], { dtype: 'float32' }), TypeError, 'dtype', "'float32'");
  });

  it('converts a Float32Array into a new Uint16Array when a 16-bit dtype is given', () => {
    const a = new Float32Array([1, 1 + 2 ** -11, 65520, -0]);
    const before = a.slice();
    const t = Tensor.from(a, [4], { dtype: 'float16' });
    expect(t.dtype).toBe('float16');
    expect(t.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(t.data)).toEqual([0x3c00, 0x3c00, 0x7c00, 0x8000]);
    expect(a).toEqual(before); // input untouched
    a[0] = 2;
    expect(t.data[0]).toBe(0x3c00); // a copy
    const b = Tensor.from(a, [4], { dtype: 'bfloat16' });
    expect(Array.from(b.data)).toEqual(Array.from(a, float32ToBfloat16Bits));
    expect(Tensor.from(a, [4], { dtype: 'float32' }).data).toBe(a);
  });

  it('copies and converts a number[] (default float32)', () => {
    const arr = [0.1, -2, 3];
    const t = Tensor.from(arr, [3]);
    expect(t.dtype).toBe('float32');
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data)).toEqual(arr.map(Math.fround));
    arr[0] = 9;
    expect(t.data[0]).toBe(Math.fround(0.1));
    const h = Tensor.from([0.1, -2, 3], [3], { dtype: 'float16' });
    expect(h.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(h.data)).toEqual([0.1, -2, 3].map(float32ToFloat16Bits));
    const b = Tensor.from([0.1, -2, 3], [1, 3], { dtype: 'bfloat16' });
    expect(Array.from(b.data)).toEqual([0.1, -2, 3].map(float32ToBfloat16Bits));
  });

  it('rejects non-numbers in a number[]', () => {
    expectThrow(() => Tensor.from([1, '2' as unknown as number], [2]), TypeError, 'data[1]');
  });

  it('accepts a scalar shape [] with one element and empty shapes', () => {
    const s = Tensor.from([5], []);
    expect(s.size).toBe(1);
    expect(s.shape).toEqual([]);
    expect(s.strides).toEqual([]);
    const e = Tensor.from(new Float32Array(0), [2, 0, 3]);
    expect(e.size).toBe(0);
    expect(e.toFloat32().length).toBe(0);
  });

  it('copies and freezes the shape', () => {
    const shape = [2, 3];
    const t = Tensor.from(new Float32Array(6), shape);
    shape[0] = 100;
    expect(t.shape).toEqual([2, 3]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(Object.isFrozen(t.strides)).toBe(true);
    expect(() => {
      (t.shape as number[])[0] = 7;
    }).toThrow(TypeError);
    expect(Object.isFrozen(shape)).toBe(false); // the caller's array is not modified
  });

  it('rejects bad shapes, naming shape', () => {
    const d = new Float32Array(4);
    expectThrow(() => Tensor.from(d, 4 as unknown as number[]), TypeError, 'shape');
    expectThrow(() => Tensor.from(d, undefined as unknown as number[]), TypeError, 'shape');
    expectThrow(() => Tensor.from(d, ['4'] as unknown as number[]), TypeError, 'shape');
    expectThrow(() => Tensor.from(d, [-4]), RangeError, 'shape', '-4');
    expectThrow(() => Tensor.from(d, [2, 2.5]), RangeError, 'shape');
    expectThrow(() => Tensor.from(d, [NaN]), RangeError, 'shape');
    expectThrow(() => Tensor.from(d, [Infinity]), RangeError, 'shape');
    expectThrow(() => Tensor.from(d, [2 ** 30, 2 ** 30]), RangeError, 'shape');
  });

  it('rejects a length mismatch, naming data with expected and actual lengths', () => {
    expectThrow(() => Tensor.from(new Float32Array(5), [2, 3]), RangeError, 'data', '6', '5');
    expectThrow(() => Tensor.from(new Uint16Array(7), [2, 3], { dtype: 'float16' }), RangeError, 'data', '6', '7');
    expectThrow(() => Tensor.from([1, 2], [3]), RangeError, 'data', '3', '2');
  });

  it('rejects unsupported data types', () => {
    expectThrow(() => Tensor.from(new Float64Array(2), [2]), TypeError, 'data', 'Float64Array');
    expectThrow(() => Tensor.from(new Int32Array(2), [2]), TypeError, 'data');
    expectThrow(() => Tensor.from(null as unknown as number[], [2]), TypeError, 'data');
    expectThrow(() => Tensor.from('ab' as unknown as number[], [2]), TypeError, 'data');
  });

  it('rejects an unknown dtype with a TypeError listing the valid ones', () => {
    expectThrow(
      () => Tensor.from(new Float32Array(1), [1], { dtype: 'float64' as never }),
      TypeError,
      'dtype',
      "'float32'",
      "'float16'",
      "'bfloat16'",
      'float64',
    );
    expectThrow(() => Tensor.zeros([1], { dtype: 'half' as never }), TypeError, 'dtype');
  });

  it('rejects a bad layout with a RangeError naming layout', () => {
    expectThrow(() => Tensor.from(new Float32Array(1), [1, 1, 1, 1], { layout: 'bsdh' as never }), RangeError, 'layout', 'bsdh');
    expectThrow(() => Tensor.from(new Float32Array(1), [1, 1, 1, 1], { layout: 3 as never }), RangeError, 'layout');
  });

  it('rejects non-object options', () => {
    expectThrow(() => Tensor.from(new Float32Array(1), [1], 'float16' as never), TypeError, 'options');
  });

  it('never modifies what the caller passed', () => {
    const a = new Float32Array([0.1, 0.2]);
    const copy = a.slice();
    const shape = Object.freeze([2]);
    const opts = Object.freeze({ dtype: 'bfloat16' as const, layout: 'bshd' as const });
    const t = Tensor.from(a, shape, opts);
    t.toFloat32();
    t.to('cpu');
    t.dispose();
    expect(a).toEqual(copy);
  });
});

describe('Float16Array input', () => {
  it.runIf(typeof (globalThis as { Float16Array?: unknown }).Float16Array === 'function')('native Float16Array is viewed without copying', () => {
    const F16 = (globalThis as unknown as { Float16Array: new (n: number[]) => ArrayBufferView & { length: number } }).Float16Array;
    const h = new F16([1, -2, 0.5]);
    const t = Tensor.from(h, [3]);
    expect(t.dtype).toBe('float16');
    expect(t.data.buffer).toBe(h.buffer);
    expect(Array.from(t.data)).toEqual([0x3c00, 0xc000, 0x3800]);
  });

  // Node 20 has no Float16Array: stand in a minimal one to exercise the path.
  class FakeFloat16Array extends Uint16Array {}
  const fakeF16 = (values: number[]) => FakeFloat16Array.from(values.map(float32ToFloat16Bits));

  it('a Float16Array (stubbed) is viewed as a Uint16Array over the same memory', () => {
    vi.stubGlobal('Float16Array', FakeFloat16Array);
    const backing = fakeF16([0, 1, -2, 0.5, 4]);
    const h = backing.subarray(1, 4); // an offset view
    const t = Tensor.from(h, [3]); // no dtype needed, unlike a plain Uint16Array
    expect(t.dtype).toBe('float16');
    expect(t.data).toBeInstanceOf(Uint16Array);
    expect(t.data.buffer).toBe(backing.buffer);
    expect(t.data.byteOffset).toBe(2);
    expect(Array.from(t.toFloat32())).toEqual([1, -2, 0.5]);
    h[0] = float32ToFloat16Bits(8);
    expect(t.toFloat32()[0]).toBe(8); // shared memory
  });

  it('a Float16Array with another dtype is converted into a copy', () => {
    // The stub's elements read as raw bits, so convert a real-valued stand-in instead.
    class ValueF16 extends Float32Array {}
    vi.stubGlobal('Float16Array', ValueF16);
    const h = new ValueF16([1, -2, 0.5]);
    const t = Tensor.from(h as unknown as ArrayBufferView, [3], { dtype: 'bfloat16' });
    expect(t.dtype).toBe('bfloat16');
    expect(Array.from(t.data)).toEqual([0x3f80, 0xc000, 0x3f00]);
    const f = Tensor.from(h as unknown as ArrayBufferView, [3], { dtype: 'float32' });
    expect(f.dtype).toBe('float32');
    expect(f.data).not.toBe(h);
    expect(Array.from(f.data)).toEqual([1, -2, 0.5]);
  });
});

describe('toFloat32', () => {
  it('returns a new array for float32 (a copy)', () => {
    const a = new Float32Array([1, 2, 3]);
    const t = Tensor.from(a, [3]);
    const f = t.toFloat32();
    expect(f).toBeInstanceOf(Float32Array);
    expect(f).not.toBe(a);
    expect(f.buffer).not.toBe(a.buffer);
    expect(Array.from(f)).toEqual([1, 2, 3]);
    f[0] = 100;
    expect(a[0]).toBe(1);
    expect(t.toFloat32()).not.toBe(f);
  });

  it.each(['float16', 'bfloat16'] as const)('decodes %s bits', (dtype) => {
    const vals = [0, -0, 1, -1.5, 1024, 0.25, Infinity, -Infinity];
    const t = Tensor.fromFloat32(vals, [2, 4], { dtype });
    const f = t.toFloat32();
    expect(f).toBeInstanceOf(Float32Array);
    expect(Array.from(f)).toEqual(vals);
    expect(Object.is(f[1], -0)).toBe(true);
    expect(Array.from(decode16(t.data as Uint16Array, dtype))).toEqual(Array.from(f));
  });

  it('keeps NaN', () => {
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      expect(Tensor.fromFloat32([NaN], [1], { dtype }).toFloat32()[0]).toBeNaN();
    }
  });
});

describe('Tensor.fromFloat32 and Tensor.zeros', () => {
  it('fromFloat32 converts any array-like into new storage', () => {
    const src = Float64Array.of(0.1, 1 + 2 ** -11 + 2 ** -40, 3);
    const t = Tensor.fromFloat32(src, [3], { dtype: 'float16' });
    expect(t.dtype).toBe('float16');
    expect(Array.from(t.data)).toEqual([float32ToFloat16Bits(0.1), 0x3c01, float32ToFloat16Bits(3)]);
    const f = Tensor.fromFloat32(src, [3]);
    expect(f.dtype).toBe('float32');
    expect(Array.from(f.data)).toEqual(Array.from(src, Math.fround));
    const a = new Float32Array([1, 2]);
    const g = Tensor.fromFloat32(a, [2]);
    expect(g.data).not.toBe(a);
    const l = Tensor.fromFloat32(new Float32Array(8), [1, 2, 2, 2], { layout: 'bshd' });
    expect(l.layout).toBe('bshd');
  });

  it('fromFloat32 validates its arguments', () => {
    expectThrow(() => Tensor.fromFloat32([1, 2], [3]), RangeError, 'values', '3', '2');
    expectThrow(() => Tensor.fromFloat32(5 as unknown as number[], [1]), TypeError, 'values');
    expectThrow(() => Tensor.fromFloat32([1], [-1]), RangeError, 'shape');
    expectThrow(() => Tensor.fromFloat32([1], [1], { dtype: 'int8' as never }), TypeError, 'dtype');
  });

  it.each(['float32', 'float16', 'bfloat16'] as const)('zeros (%s)', (dtype) => {
    const z = Tensor.zeros([2, 3, 4], { dtype, layout: 'bhsd' });
    expect(z.dtype).toBe(dtype);
    expect(z.shape).toEqual([2, 3, 4]);
    expect(z.data).toBeInstanceOf(dtype === 'float32' ? Float32Array : Uint16Array);
    expect(z.data.length).toBe(24);
    expect(z.toFloat32().every((x) => Object.is(x, 0))).toBe(true);
  });

  it('zeros defaults to float32 and validates', () => {
    expect(Tensor.zeros([3]).dtype).toBe('float32');
    expectThrow(() => Tensor.zeros([1.5]), RangeError, 'shape');
    expectThrow(() => Tensor.zeros([1, 1, 1, 1], { layout: 'nchw' as never }), RangeError, 'layout');
  });
});

describe('Tensor.randn', () => {
  it('is deterministic per seed', () => {
    const a = Tensor.randn([2, 3, 16, 8], { seed: 1 });
    const b = Tensor.randn([2, 3, 16, 8], { seed: 1 });
    const c = Tensor.randn([2, 3, 16, 8], { seed: 2 });
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([2, 3, 16, 8]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
    expect(a.data).not.toBe(b.data);
  });

  it('has mean ≈ 0, variance ≈ 1, and looks normal', () => {
    const n = 200000;
    const t = Tensor.randn([n], { seed: 2024 });
    const d = t.data as Float32Array;
    let m = 0;
    for (const x of d) m += x;
    m /= n;
    let v = 0;
    let within1 = 0;
    let within2 = 0;
    for (const x of d) {
      v += (x - m) ** 2;
      if (Math.abs(x) < 1) within1++;
      if (Math.abs(x) < 2) within2++;
    }
    v /= n - 1;
    expect(Math.abs(m)).toBeLessThan(0.01); // sd of the mean ≈ 0.0022
    expect(Math.abs(v - 1)).toBeLessThan(0.015); // sd of the variance ≈ 0.0032
    expect(within1 / n).toBeCloseTo(0.6827, 2);
    expect(within2 / n).toBeCloseTo(0.9545, 2);
    expect(d.every(Number.isFinite)).toBe(true);
  });

  it.each(['float16', 'bfloat16'] as const)('%s values are the float32 draws rounded to the dtype', (dtype) => {
    const f = Tensor.randn([4, 64], { seed: 9 });
    const h = Tensor.randn([4, 64], { seed: 9, dtype });
    expect(h.dtype).toBe(dtype);
    expect(h.data).toBeInstanceOf(Uint16Array);
    const fv = f.data as Float32Array;
    const hv = h.toFloat32();
    for (let i = 0; i < fv.length; i++) expect(hv[i]).toBe(roundToDType(fv[i], dtype));
  });

  it('accepts a layout and large or negative integer seeds', () => {
    const t = Tensor.randn([1, 4, 2, 8], { seed: 2 ** 40 + 5, layout: 'bshd' });
    expect(t.layout).toBe('bshd');
    expect(Tensor.randn([3], { seed: -7 }).size).toBe(3);
    expect(Array.from(Tensor.randn([8], { seed: 2 ** 40 + 5 }).data)).not.toEqual(Array.from(Tensor.randn([8], { seed: 5 }).data));
  });

  it('requires an integer seed', () => {
    expectThrow(() => Tensor.randn([2], {} as never), TypeError, 'seed');
    expectThrow(() => Tensor.randn([2], undefined as never), TypeError, 'seed');
    expectThrow(() => Tensor.randn([2], { seed: 1.5 }), TypeError, 'seed');
    expectThrow(() => Tensor.randn([2], { seed: NaN }), TypeError, 'seed');
    expectThrow(() => Tensor.randn([2], { seed: '1' as never }), TypeError, 'seed');
    expectThrow(() => Tensor.randn([2], { seed: 2 ** 60 }), TypeError, 'seed');
  });

  it('validates shape, dtype and layout', () => {
    expectThrow(() => Tensor.randn([-1], { seed: 1 }), RangeError, 'shape');
    expectThrow(() => Tensor.randn([1], { seed: 1, dtype: 'fp8' as never }), TypeError, 'dtype');
    expectThrow(() => Tensor.randn([1, 1, 1, 1], { seed: 1, layout: 'x' as never }), RangeError, 'layout');
  });
});

describe('to(device)', () => {
  it("to('cpu') returns a copy", () => {
    const a = new Float32Array([1, 2, 3, 4]);
    const t = Tensor.from(a, [1, 1, 2, 2], { layout: 'bshd' });
    const c = t.to('cpu');
    expect(c).not.toBe(t);
    expect(c.data).not.toBe(a);
    expect(c.data.buffer).not.toBe(a.buffer);
    expect(Array.from(c.data)).toEqual([1, 2, 3, 4]);
    expect(c.shape).toEqual(t.shape);
    expect(c.dtype).toBe('float32');
    expect(c.layout).toBe('bshd');
    expect(c.device).toBe('cpu');
    a[0] = 9;
    expect(c.data[0]).toBe(1);
    const h = Tensor.from(new Uint16Array([0x3c00]), [1], { dtype: 'bfloat16' }).to('cpu');
    expect(h.dtype).toBe('bfloat16');
    expect(h.data).toBeInstanceOf(Uint16Array);
  });

  it('cuda without a usable device throws a clear Error naming the tensor, the device and the reason', () => {
    const t = Tensor.zeros([2]);
    for (const [dev, name] of [['cuda', 'cuda:0'], ['cuda:0', 'cuda:0'], ['cuda:3', 'cuda:3']]) {
      if (cudaAvailable() && name === 'cuda:0') continue; // a real device copies (test/gpu covers it)
      expectThrow(() => t.to(dev), Error, new RegExp(`^cannot move Tensor\\(float32, \\[2\\], bhsd, cpu\\) to ${name}: ${name}: (no device|no such device)`));
    }
  });

  it('rejects invalid device strings with a RangeError naming device', () => {
    const t = Tensor.zeros([2]);
    for (const dev of ['gpu', 'CUDA', 'cuda:', 'cuda:-1', 'cuda:1.5', 'cuda:01', 'cpu:0', '', ' cpu', 'mps']) {
      expectThrow(() => t.to(dev), RangeError, 'device', JSON.stringify(dev));
    }
    expectThrow(() => t.to(0 as never), TypeError, 'device');
    expectThrow(() => t.to(undefined as never), TypeError, 'device');
  });

  it('parseDevice canonicalizes', () => {
    expect(parseDevice('cpu')).toBe('cpu');
    expect(parseDevice('cuda')).toBe('cuda:0');
    expect(parseDevice('cuda:12')).toBe('cuda:12');
  });

  it('delegates cuda transfers to an override hook, with a pluggable storage, and to the native CUDA copy without one', () => {
    const freed: string[] = [];
    const fakeStorage = (device: string, host: HostData): DeviceStorage => ({
      device,
      toHost: () => host.slice(),
      dispose: () => void freed.push(device),
    });
    const calls: [Tensor, string][] = [];
    setDeviceTransferHook((src, device) => {
      calls.push([src, device]);
      const host = src.device === 'cpu' ? src.data.slice() : src.to('cpu').data;
      return Tensor.fromDeviceStorage(fakeStorage(device, host), src.shape, { dtype: src.dtype, layout: src.layout });
    });
    const t = Tensor.fromFloat32([1, 2, 3, 4], [1, 2, 1, 2], { dtype: 'float16', layout: 'bshd' });
    const g = t.to('cuda');
    expect(calls.length).toBe(1);
    expect(calls[0][0]).toBe(t);
    expect(calls[0][1]).toBe('cuda:0');
    expect(g.device).toBe('cuda:0');
    expect(g.dtype).toBe('float16');
    expect(g.layout).toBe('bshd');
    expect(g.shape).toEqual([1, 2, 1, 2]);
    expect(g.deviceStorage).not.toBeNull();
    expect(t.deviceStorage).toBeNull();
    expect(g.toString()).toBe('Tensor(float16, [1, 2, 1, 2], bshd, cuda:0)');
    // host-only accessors
    expectThrow(() => g.data, Error, 'cuda:0', 'toFloat32');
    // toFloat32 and to('cpu') come back through the storage
    expect(Array.from(g.toFloat32())).toEqual([1, 2, 3, 4]);
    const back = g.to('cpu');
    expect(back.device).toBe('cpu');
    expect(back.dtype).toBe('float16');
    expect(Array.from(back.toFloat32())).toEqual([1, 2, 3, 4]);
    // device to device goes through the hook too
    const g2 = g.to('cuda:1');
    expect(calls.length).toBe(2);
    expect(g2.device).toBe('cuda:1');
    // dispose frees device memory exactly once
    g.dispose();
    g.dispose();
    expect(freed).toEqual(['cuda:0']);
    expectThrow(() => g.toFloat32(), Error, 'disposed');
    // float32 device tensors
    const f = Tensor.from(new Float32Array([5, 6]), [2]).to('cuda:2');
    expect(Array.from(f.toFloat32())).toEqual([5, 6]);
    // without the override the native CUDA memory module copies: this file never imports the
    // package entry (lib/index.ts), so nothing was installed at import time
    setDeviceTransferHook(null);
    if (cudaAvailable()) expect(t.to('cuda').device).toBe('cuda:0');
    else expectThrow(() => t.to('cuda'), Error, /^cannot move Tensor\(float16, \[1, 2, 1, 2\], bshd, cpu\) to cuda:0: cuda:0: /);
  });

  it('fromDeviceStorage and setDeviceTransferHook validate', () => {
    const s: DeviceStorage = { device: 'cpu', toHost: () => new Float32Array(1), dispose: () => {} };
    expectThrow(() => Tensor.fromDeviceStorage(s, [1], { dtype: 'float32' }), RangeError, 'cuda');
    expectThrow(() => Tensor.fromDeviceStorage({ ...s, device: 'cuda:0' }, [1], {} as never), TypeError, 'dtype');
    expectThrow(() => setDeviceTransferHook(42 as never), TypeError, 'function');
    setDeviceTransferHook(() => ({}) as never);
    expectThrow(() => Tensor.zeros([1]).to('cuda'), TypeError, 'not a Tensor');
  });
});

describe('dispose', () => {
  it('makes data, toFloat32 and to throw, and is idempotent', () => {
    const t = Tensor.from(new Float32Array(4), [2, 2]);
    expect(t.disposed).toBe(false);
    t.dispose();
    expect(t.disposed).toBe(true);
    expectThrow(() => t.data, Error, 'disposed');
    expectThrow(() => t.toFloat32(), Error, 'disposed');
    expectThrow(() => t.to('cpu'), Error, 'disposed');
    expectThrow(() => t.to('cuda'), Error, 'disposed');
    expect(() => t.dispose()).not.toThrow();
    // metadata stays readable
    expect(t.shape).toEqual([2, 2]);
    expect(t.dtype).toBe('float32');
    expect(t.toString()).toBe('Tensor(float32, [2, 2], bhsd, cpu, disposed)');
  });

  it("does not touch the caller's array", () => {
    const a = new Float32Array([1, 2]);
    const t = Tensor.from(a, [2]);
    t.dispose();
    expect(Array.from(a)).toEqual([1, 2]);
  });
});

describe('dims4', () => {
  it('bhsd', () => {
    const t = Tensor.zeros([2, 8, 128, 64]);
    expect(t.strides).toEqual([8 * 128 * 64, 128 * 64, 64, 1]);
    expect(t.dims4()).toEqual({ batch: 2, heads: 8, seq: 128, headDim: 64, strides: [8 * 128 * 64, 128 * 64, 64, 1] });
  });

  it('bshd gives logical strides [S*H*D, D, H*D, 1]', () => {
    const [B, S, H, D] = [2, 5, 3, 4];
    const t = Tensor.zeros([B, S, H, D], { layout: 'bshd' });
    expect(t.shape).toEqual([B, S, H, D]);
    expect(t.strides).toEqual([S * H * D, H * D, D, 1]);
    const d = t.dims4();
    expect(d).toEqual({ batch: B, heads: H, seq: S, headDim: D, strides: [S * H * D, D, H * D, 1] });
  });

  it('the logical strides address the same element in both layouts', () => {
    const [B, H, S, D] = [2, 3, 4, 5];
    const bhsd = Tensor.randn([B, H, S, D], { seed: 3 });
    const src = bhsd.data as Float32Array;
    const out = new Float32Array(src.length);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let s = 0; s < S; s++)
          for (let d = 0; d < D; d++) out[((b * S + s) * H + h) * D + d] = src[((b * H + h) * S + s) * D + d];
    const bshd = Tensor.from(out, [B, S, H, D], { layout: 'bshd' });
    const x = bhsd.dims4();
    const y = bshd.dims4();
    expect([y.batch, y.heads, y.seq, y.headDim]).toEqual([x.batch, x.heads, x.seq, x.headDim]);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let s = 0; s < S; s++)
          for (let d = 0; d < D; d++) {
            const i = b * x.strides[0] + h * x.strides[1] + s * x.strides[2] + d * x.strides[3];
            const j = b * y.strides[0] + h * y.strides[1] + s * y.strides[2] + d * y.strides[3];
            expect(out[j]).toBe(src[i]);
          }
  });

  it('throws a RangeError for non-4-D tensors', () => {
    expectThrow(() => Tensor.zeros([2, 3]).dims4(), RangeError, '4-D', '[2, 3]');
    expectThrow(() => Tensor.zeros([1, 1, 1, 1, 1]).dims4(), RangeError, '4-D');
  });
});

describe('printing', () => {
  it('toString and util.inspect give a short description', () => {
    const t = Tensor.zeros([1, 8, 128, 64], { dtype: 'float16' });
    expect(t.toString()).toBe('Tensor(float16, [1, 8, 128, 64], bhsd, cpu)');
    expect(String(t)).toBe('Tensor(float16, [1, 8, 128, 64], bhsd, cpu)');
    expect(inspect(t)).toBe('Tensor(float16, [1, 8, 128, 64], bhsd, cpu)');
    expect(Tensor.zeros([2], { layout: 'bshd' }).toString()).toBe('Tensor(float32, [2], bshd, cpu)');
    expect(Object.prototype.toString.call(t)).toBe('[object Tensor]');
  });

  it('the constructor is not for direct use', () => {
    const Ctor = Tensor as unknown as new (...args: unknown[]) => Tensor;
    expect(() => new Ctor([1], 'float32')).toThrow(TypeError);
  });
});
