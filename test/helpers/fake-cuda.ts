/**
 * A stand-in for the addon's CUDA functions that keeps "device" memory in host arrays and runs
 * cudaAttention with the native CPU kernel over those arrays (the same arguments: views with
 * offsets, the uploaded run-time mask, positions, key masses). It lets the CUDA backend's and the
 * device KVCache's bookkeeping — which buffers, offsets, copies and masks they pass — be checked
 * against the host paths on a machine without a GPU, and counts what they allocate and copy. It
 * says nothing about the CUDA kernels themselves (test/gpu/ does).
 */
import type { BlockMask } from '../../lib/mask/blockmask.js';
import type { CudaAttentionArgs, CudaBindings, CudaView, NativeView } from '../../lib/native/bindings.js';
import { loadNative } from '../../lib/native/load.js';
import { maskArgs } from '../../lib/native/views.js';

interface Buffer {
  mem: Uint8Array;
  device: number;
}

export interface FakeCuda {
  cuda: CudaBindings;
  /** live allocations */
  live: Set<Buffer>;
  /** counts per entry point */
  calls: Map<string, number>;
  liveBytes(): number;
}

function typed(mem: Uint8Array, dtype: number): Float32Array | Uint16Array {
  return dtype === 0 ? new Float32Array(mem.buffer, mem.byteOffset, mem.byteLength / 4) : new Uint16Array(mem.buffer, mem.byteOffset, mem.byteLength / 2);
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function makeFakeCuda(): FakeCuda {
  const live = new Set<Buffer>();
  const calls = new Map<string, number>();
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  const buf = (h: unknown): Buffer => {
    if (!live.has(h as Buffer)) throw new TypeError('fake cuda: not a live buffer');
    return h as Buffer;
  };
  const range = (b: Buffer, off: number, n: number) => {
    if (off < 0 || off + n > b.mem.byteLength) throw new RangeError(`fake cuda: ${n} bytes at ${off} outside a buffer of ${b.mem.byteLength}`);
  };
  const view = (v: CudaView): NativeView => ({ data: typed(buf(v.buffer).mem, v.dtype), dtype: v.dtype, shape: v.shape, strides: v.strides, offset: v.offset });
  const floats = (x: { buffer: unknown; offset: number } | null | undefined, n: number) => {
    if (!x) return null;
    const all = typed(buf(x.buffer).mem, 0) as Float32Array;
    if (x.offset + n > all.length) throw new RangeError('fake cuda: float output too short');
    return all.subarray(x.offset, x.offset + n);
  };
  const attention = (a: CudaAttentionArgs) => {
    count('cudaAttention');
    const [B, Hq, Sq] = a.q.shape;
    const [, Hkv, Sk] = a.k.shape;
    loadNative().attentionSync({
      q: view(a.q),
      k: view(a.k),
      v: view(a.v),
      out: view(a.out),
      lse: floats(a.lse, B * Hq * Sq),
      mask: maskArgs((a.mask as unknown as { mask: BlockMask }).mask),
      scale: a.scale,
      softcap: a.softcap,
      alibi: a.alibi,
      rope: a.rope,
      queryPositions: a.queryPositions,
      queryStart: a.queryStart,
      keyPositions: a.keyPositions,
      keyMass: floats(a.keyMass, B * Hkv * Sk),
    });
  };
  const cuda = {
    cudaAlloc: (bytes: number, device: number) => {
      count('cudaAlloc');
      const b = { mem: new Uint8Array(bytes), device };
      live.add(b);
      return b;
    },
    cudaFree: (h: unknown) => void live.delete(buf(h)),
    cudaCopyToDevice: (h: unknown, off: number, src: ArrayBufferView) => {
      count('cudaCopyToDevice');
      const b = buf(h);
      range(b, off, src.byteLength);
      b.mem.set(bytesOf(src), off);
    },
    cudaCopyToHost: (h: unknown, off: number, dst: ArrayBufferView) => {
      count('cudaCopyToHost');
      const b = buf(h);
      range(b, off, dst.byteLength);
      bytesOf(dst).set(b.mem.subarray(off, off + dst.byteLength));
    },
    cudaCopyDevice: (d: unknown, doff: number, s: unknown, soff: number, n: number) => {
      count('cudaCopyDevice');
      const [db, sb] = [buf(d), buf(s)];
      range(db, doff, n);
      range(sb, soff, n);
      db.mem.set(sb.mem.slice(soff, soff + n), doff);
    },
    cudaUploadMask: (mask: BlockMask) => {
      count('cudaUploadMask');
      return { mask };
    },
    cudaTile: () => loadNative().info().cpu.tile,
    cudaAttentionSync: attention,
    cudaMemoryStats: () => ({ allocations: live.size }),
  } as Record<string, unknown>;
  cuda.cudaCopyToDeviceAsync = async (h: unknown, off: number, src: ArrayBufferView) => (cuda.cudaCopyToDevice as (...a: unknown[]) => void)(h, off, src);
  cuda.cudaCopyToHostAsync = async (h: unknown, off: number, dst: ArrayBufferView) => (cuda.cudaCopyToHost as (...a: unknown[]) => void)(h, off, dst);
  cuda.cudaAttention = async (a: CudaAttentionArgs) => attention(a);
  return {
    cuda: cuda as unknown as CudaBindings,
    live,
    calls,
    liveBytes: () => [...live].reduce((n, b) => n + b.mem.byteLength, 0),
  };
}
