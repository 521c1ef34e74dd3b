/**
 * The CUDA backend on a machine without a usable GPU (CI): every entry point gives a clean Error
 * that names the device and the reason, and absurd requests are errors, never crashes. Skipped
 * where a device is present (test/gpu/ covers that machine).
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionSync, compileMask, KVCache, linearAttention, linearAttentionSync, Tensor } from '../lib/index.js';
import type { DeviceStorage } from '../lib/storage.js';
import { emptyDeviceTensor, runCuda, runCudaSync, runOnDevice, runOnDeviceSync, toDeviceAsync } from '../lib/backends/cuda.js';
import { CudaStorage } from '../lib/native/cuda-storage.js';
import { cuda, cudaNative, cudaUnavailableReason } from '../lib/native/cuda.js';
import type { CudaAttentionArgs, CudaBindings } from '../lib/native/bindings.js';
import { planAttention } from '../lib/attention/plan.js';

const REASON = /no device|not compiled|not available|no CUDA binding|no such device/;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const native = cudaNative();
const binding: CudaBindings | null = 'cuda' in native ? native.cuda : null;

describe.skipIf(cuda.isAvailable())('CUDA without a device', () => {
  const q = Tensor.randn([1, 2, 8, 16], { seed: 1 });
  const k = Tensor.randn([1, 2, 8, 16], { seed: 2 });
  const v = Tensor.randn([1, 2, 8, 16], { seed: 3 });

  it('reports unavailability with a reason naming the device', () => {
    expect(cuda.isAvailable()).toBe(false);
    expect(cuda.deviceCount()).toBe(0);
    const why = cudaUnavailableReason('cuda');
    expect(why).toMatch(/^cuda:0: /);
    expect(why).toMatch(REASON);
    expect(cudaUnavailableReason('cuda:5')).toMatch(/^cuda:5: /);
    expect(cudaUnavailableReason('cpu')).toBeNull();
  });

  it("tensor.to('cuda') is an Error naming the device and the reason, with nothing installed first", () => {
    const t = Tensor.from(new Float32Array([1, 2, 3, 4]), [4]);
    for (const [dev, name] of [['cuda', 'cuda:0'], ['cuda:0', 'cuda:0'], ['cuda:3', 'cuda:3']] as const) {
      const e = thrown(() => t.to(dev));
      expect(e.message).toContain(name);
      expect(e.message).toMatch(REASON);
      expect(e.message).toContain(t.toString());
    }
    // host tensors stay usable, and 'cpu' still copies
    expect(Array.from(t.to('cpu').toFloat32())).toEqual([1, 2, 3, 4]);
    const h = Tensor.randn([2, 3], { dtype: 'bfloat16', seed: 4 });
    expect(thrown(() => h.to('cuda:1')).message).toContain('cuda:1');
    expect(thrown(() => h.to('cuda:2')).message).toContain('cuda:2');
  });

  it('asynchronous transfers reject the same way', async () => {
    const e = await rejected(toDeviceAsync(q, 'cuda:0'));
    expect(e.message).toContain('cuda:0');
    expect(e.message).toMatch(REASON);
  });

  it('allocations name the device and the bytes asked for, absurd sizes included', () => {
    const e = thrown(() => emptyDeviceTensor('cuda:0', [4, 1024], 'float16'));
    expect(e.message).toContain('cuda:0');
    expect(e.message).toContain('8192 bytes');
    const huge = thrown(() => emptyDeviceTensor('cuda:1', [2 ** 20, 2 ** 20, 2 ** 10], 'float32'));
    expect(huge.message).toContain('cuda:1');
    expect(huge.message).toContain(`${2 ** 52} bytes`);
    const unsafe = thrown(() => emptyDeviceTensor('cuda:0', [2 ** 30, 2 ** 30, 2 ** 10], 'float32'));
    expect(unsafe.message).toContain('cuda:0');
  });

  it("backend: 'cuda' is a clean Error (sync and async)", async () => {
    const e = thrown(() => attentionSync(q, k, v, { backend: 'cuda' }));
    expect(e.message).toMatch(/^options\.backend 'cuda' is unavailable: /);
    expect(e.message).toMatch(REASON);
    const r = await rejected(attention(q, k, v, { backend: 'cuda' }));
    expect(r.message).toMatch(/^options\.backend 'cuda' is unavailable: /);
  });

  // Device tensors as a user holding them meets the routing (storage faked: there is no device).
  function onDevice(t: Tensor, device = 'cuda:0'): Tensor {
    const host = t.data;
    const storage: DeviceStorage = { device, toHost: () => host.slice(), dispose: () => {} };
    return Tensor.fromDeviceStorage(storage, t.shape, { dtype: t.dtype, layout: t.layout });
  }

  it('device inputs follow their device under auto, and a host backend for them is a RangeError', async () => {
    const [dq, dk, dv] = [onDevice(q), onDevice(k), onDevice(v)];
    expect(thrown(() => attentionSync(dq, dk, dv)).message).toMatch(/^options\.backend 'cuda' is unavailable: cuda:0: /);
    expect((await rejected(attention(dq, dk, dv, { causal: true }))).message).toMatch(REASON);
    for (const backend of ['cpu', 'reference'] as const) {
      const e = thrown(() => attentionSync(dq, dk, dv, { backend }));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toMatch(new RegExp(`options\\.backend '${backend}' runs on the host, but q, k and v are on cuda:0`));
    }
    expect(thrown(() => attentionSync(dq, k, v)).message).toMatch(/one device/);
  });

  it('linearAttention: device inputs and backend cuda name the device and the reason', async () => {
    const [dq, dk, dv] = [onDevice(q), onDevice(k), onDevice(v)];
    expect(thrown(() => linearAttentionSync(dq, dk, dv)).message).toMatch(/^linearAttention: options\.backend 'cuda' is unavailable: cuda:0: /);
    expect((await rejected(linearAttention(dq, dk, dv))).message).toMatch(REASON);
    expect(thrown(() => linearAttentionSync(q, k, v, { backend: 'cuda' })).message).toMatch(/^linearAttention: options\.backend 'cuda' is unavailable/);
    const e = thrown(() => linearAttentionSync(dq, dk, dv, { backend: 'cpu' }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(/runs on the host, but q, k and v are on cuda:0/);
  });

  it('the CUDA backend itself names the device and the reason', async () => {
    const plan = planAttention(q, k, v, { backend: 'cuda', causal: true });
    const e = thrown(() => runCudaSync(plan));
    expect(e.message).toMatch(/^options\.backend 'cuda' is unavailable: cuda:0: /);
    expect(e.message).toMatch(REASON);
    const r = await rejected(runCuda(plan));
    expect(r.message).toMatch(/^options\.backend 'cuda' is unavailable: cuda:0: /);
  });

  it('a KVCache on a cuda device names the device and the reason', () => {
    const options = { batch: 1, kvHeads: 2, headDim: 16, budget: 8, policy: 'window' } as const;
    for (const [dev, name] of [['cuda', 'cuda:0'], ['cuda:3', 'cuda:3']] as const) {
      const e = thrown(() => new KVCache({ ...options, device: dev }));
      expect(e.message).toMatch(new RegExp(`^new KVCache: ${name}: `));
      expect(e.message).toMatch(REASON);
    }
    expect(new KVCache({ ...options, device: 'cpu' }).device).toBe('cpu');
  });

  it('select with backend cuda names the device and the reason', () => {
    const e = thrown(() => attentionSync(q, k, v, { backend: 'cuda', select: { blocks: 1, blockSize: 4 } }));
    expect(e.message).toMatch(/^options\.backend 'cuda' is unavailable: cuda:0: /);
  });

  it('device state functions throw naming the device', () => {
    for (const f of [() => cuda.memoryStats(), () => cuda.emptyCache('cuda:0'), () => cuda.synchronize()]) {
      const e = thrown(f);
      expect(e.message).toContain('cuda:0');
      expect(e.message).toMatch(REASON);
    }
    expect(thrown(() => cuda.memoryStats('cuda:2')).message).toContain('cuda:2');
  });

  describe.skipIf(binding === null)('the native binding', () => {
    const b = binding!;

    it('rejects absurd or malformed sizes with a RangeError, not a crash', () => {
      for (const bytes of [-1, 0.5, NaN, Infinity, 2 ** 60, 1e300]) {
        const e = thrown(() => b.cudaAlloc(bytes, 0));
        expect(e).toBeInstanceOf(RangeError);
        expect(e.message).toContain('cuda:0');
      }
      expect(thrown(() => b.cudaAlloc(16, -1))).toBeInstanceOf(RangeError);
      expect(thrown(() => b.cudaAlloc('16' as never, 0))).toBeInstanceOf(TypeError);
    });

    it('allocation errors name the device and the bytes', () => {
      const e = thrown(() => b.cudaAlloc(2 ** 52, 0));
      expect(e.message).toMatch(/^cuda:0: /);
      expect(e.message).toContain(`${2 ** 52} bytes`);
      expect(e.message).toMatch(REASON);
      const e7 = thrown(() => b.cudaAlloc(4096, 7));
      expect(e7.message).toMatch(/^cuda:7: /);
      expect(e7.message).toContain('4096 bytes');
    });

    it('rejects foreign handles and malformed calls with TypeErrors', () => {
      for (const h of [{}, null, 42, new Float32Array(4)]) {
        expect(thrown(() => b.cudaFree(h as never))).toBeInstanceOf(TypeError);
        expect(thrown(() => b.cudaCopyToHost(h as never, 0, new Float32Array(1)))).toBeInstanceOf(TypeError);
      }
      expect(thrown(() => b.cudaAttentionSync({} as never))).toBeInstanceOf(TypeError);
      expect(thrown(() => b.cudaAttention(null as never))).toBeInstanceOf(TypeError);
      expect(thrown(() => b.cudaUploadMask({} as never, 0))).toBeInstanceOf(TypeError);
    });

    it('mask uploads name the device', () => {
      const mask = compileMask('causal', { seqQ: 100, seqK: 100, blockQ: 64, blockK: 64 });
      const e = thrown(() => b.cudaUploadMask(mask, 0));
      expect(e.message).toMatch(/^cuda:0: /);
      expect(e.message).toMatch(REASON);
    });

    it('reports the kernels tile shape', () => {
      expect(b.cudaTile()).toEqual({ blockQ: 64, blockK: 64 });
    });
  });
});

/**
 * The CUDA backend's bookkeeping against a fake of the addon's CUDA functions that counts live
 * allocations (no kernel runs): what a call allocates on the device, and what it frees.
 */
describe('the CUDA backend with a counting fake of the addon', () => {
  function fake(failLaunch = false) {
    const live = new Set<object>();
    const launched: CudaAttentionArgs[] = [];
    const launch = (a: CudaAttentionArgs) => {
      if (failLaunch) throw new Error('cuda:0: launch failed');
      launched.push(a);
    };
    const cuda = {
      cudaAlloc: (bytes: number) => {
        const h = { bytes };
        live.add(h);
        return h;
      },
      cudaFree: (h: object) => void live.delete(h),
      cudaUploadMask: () => ({ mask: true }),
      cudaTile: () => ({ blockQ: 64, blockK: 64 }),
      cudaAttentionSync: launch,
      cudaAttention: async (a: CudaAttentionArgs) => launch(a),
    } as unknown as CudaBindings;
    const onDevice = (t: Tensor) => Tensor.fromDeviceStorage(new CudaStorage(cuda, 'cuda:0', t.dtype, t.size), t.shape, { dtype: t.dtype, layout: t.layout });
    return { cuda, live, launched, onDevice };
  }
  // a shape of its own, so that no other test meets the fake's mask handle in the upload cache
  const [q, k, v] = [1, 2, 3].map((seed) => Tensor.randn([1, 2, 24, 8], { seed }));

  it('allocates the lse on the device only when returnLse asks for it (sync and async)', async () => {
    const f = fake();
    const [dq, dk, dv] = [q, k, v].map(f.onDevice);
    expect(f.live.size).toBe(3);
    for (const run of [runOnDeviceSync, runOnDevice]) {
      const plain = await run(planAttention(dq, dk, dv, { causal: true }), f.cuda);
      expect(plain.lse).toBeNull();
      expect(f.launched.at(-1)!.lse).toBeNull();
      expect(f.live.size).toBe(4); // q, k, v and out: nothing left behind for the garbage collector
      plain.out.dispose();
      expect(f.live.size).toBe(3);

      const withLse = await run(planAttention(dq, dk, dv, { causal: true, returnLse: true }), f.cuda);
      expect(withLse.lse!.device).toBe('cuda:0');
      expect(withLse.lse!.shape).toEqual([1, 2, 24]);
      expect(f.launched.at(-1)!.lse).not.toBeNull();
      expect(f.live.size).toBe(5);
      withLse.out.dispose();
      withLse.lse!.dispose();
      expect(f.live.size).toBe(3);
    }
  });

  it('a failed launch frees what the call allocated, and leaves options.out alone', async () => {
    const f = fake(true);
    const [dq, dk, dv, out] = [q, k, v, q].map(f.onDevice);
    for (const run of [runOnDeviceSync, runOnDevice]) {
      await expect(async () => run(planAttention(dq, dk, dv, { returnLse: true }), f.cuda)).rejects.toThrow(/launch failed/);
      expect(f.live.size).toBe(4);
      await expect(async () => run(planAttention(dq, dk, dv, { returnLse: true, out }), f.cuda)).rejects.toThrow(/launch failed/);
      expect(f.live.size).toBe(4);
      expect(out.disposed).toBe(false);
    }
  });
});
