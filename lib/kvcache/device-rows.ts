/**
 * A KVCache's K and V rows in CUDA device memory: two buffers of [batch, kvHeads, capacity,
 * headDim] allocated once (growing, by one device-to-device copy, only when a call brings more keys
 * than ever before), which the CUDA kernels read in place with the slots' true positions as
 * `keyPositions`. Nothing is allocated per token:
 *
 *  - appending: rows from host tensors are gathered (and, for keys, rotated by RoPE at their true
 *    positions, in float64 as the host cache does, so both store the same bits) into a host staging
 *    array and uploaded, one copy per run of consecutive slots; rows from device tensors are copied
 *    device to device, unless the keys must be rotated or mirrored (below): then the new key rows
 *    come to the host once (seq·headDim elements per batch element and kv head — one row each when
 *    decoding).
 *  - evicting (compact mode): one slot moved, one device-to-device copy per batch element for K and
 *    for V: O(1) per evicted key, O(budget) per step.
 *  - option `select` ranks key blocks by per-block key bounds kept on the host (bounds.ts); they
 *    read a host mirror of K, made on the first `select` call (one copy of K back) and kept up to
 *    date from the appended rows and moves from then on.
 *
 * Why RoPE is applied on the host rather than by the kernels' position-aware pre-pass: the pre-pass
 * rotates every kept key on every call (O(budget·headDim) work and a temporary copy of K per step)
 * and leaves unrotated keys in the cache, which the Quest bounds of `select` could not use; rotating
 * each new key once costs only its own row.
 */
import type { Operand } from '../attention/plan.js';
import { dtypeSize } from '../dtypes.js';
import type { CudaBindings } from '../native/bindings.js';
import { CudaStorage, cudaStorageOf } from '../native/cuda-storage.js';
import { Tensor } from '../tensor.js';
import { moveRow, regrow, rowOffset, writeRows, type RowGeometry, type RowWrite, type SlotRows } from './rows.js';

function hostRows(g: RowGeometry, n: number): Float32Array | Uint16Array {
  return g.dtype === 'float32' ? new Float32Array(n) : new Uint16Array(n);
}

export class DeviceRows implements SlotRows {
  k: CudaStorage;
  v: CudaStorage;
  private mirror: Float32Array | Uint16Array | null = null;
  private staging: Float32Array | Uint16Array;
  private readonly esize: number;

  constructor(
    private readonly cuda: CudaBindings,
    readonly device: string,
    private readonly g: RowGeometry,
    private capacity: number,
  ) {
    const n = g.batch * g.kvHeads * capacity * g.headDim;
    this.esize = dtypeSize(g.dtype);
    this.k = new CudaStorage(cuda, device, g.dtype, n);
    try {
      this.v = new CudaStorage(cuda, device, g.dtype, n);
    } catch (e) {
      this.k.dispose();
      throw e;
    }
    this.staging = hostRows(g, 0);
  }

  get hostK(): Float32Array | Uint16Array {
    if (this.mirror === null) throw new Error('KVCache: the host mirror of the keys was not made (internal error)');
    return this.mirror;
  }

  /** Whether the host mirror of K is kept. */
  get mirrored(): boolean {
    return this.mirror !== null;
  }

  /** Starts keeping a host mirror of K (for the bounds of option `select`): one copy of K back. */
  keepMirror(): void {
    if (this.mirror !== null) return;
    const m = hostRows(this.g, this.k.length);
    this.cuda.cudaCopyToHost(this.k.handle, 0, m);
    this.mirror = m;
  }

  write(w: RowWrite, capacity: number): void {
    this.capacity = capacity;
    const keysViaHost = w.rope !== null || this.mirror !== null;
    this.writeOne(this.k, w.k, w, keysViaHost ? w.rope : null, keysViaHost, this.mirror);
    this.writeOne(this.v, w.v, w, null, false, null);
  }

  /** Stores the rows of one operand: device to device, or through the host staging array. */
  private writeOne(dst: CudaStorage, src: Operand, w: RowWrite, rope: RowWrite['rope'], viaHost: boolean, mirror: Float32Array | Uint16Array | null): void {
    const { batch: B, kvHeads: H, headDim: D } = this.g;
    const es = this.esize;
    const at = (b: number, h: number, s: number) => rowOffset(this.g, this.capacity, b, h, s) * es;
    const from = src.tensor.device === 'cpu' ? null : cudaStorageOf(src.tensor);
    if (from !== null && !viaHost) {
      const [s0, s1, s2] = src.strides;
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          forRuns(w.taken[h], s2 === D, (t, n) => {
            this.cuda.cudaCopyDevice(dst.handle, at(b, h, w.taken[h][t]), from.handle, (b * s0 + h * s1 + t * s2) * es, n * D * es);
          });
      return;
    }
    // the host path: device rows come back once (the new rows only), then gather, rotate, upload
    const host: Operand = from === null ? src : { ...src, tensor: src.tensor.to('cpu') as Tensor };
    const n = w.taken[0]?.length ?? 0;
    if (this.staging.length < B * H * n * D) this.staging = hostRows(this.g, B * H * n * D);
    const st = this.staging;
    const seq = Array.from({ length: H }, () => Array.from({ length: n }, (_, t) => t));
    writeRows(this.g, host, st, (b, h, t) => ((b * H + h) * n + t) * D, seq, w.start, rope);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const slots = w.taken[h];
        forRuns(slots, true, (t, len) => {
          const o = ((b * H + h) * n + t) * D;
          this.cuda.cudaCopyToDevice(dst.handle, at(b, h, slots[t]), st.subarray(o, o + len * D));
          mirror?.set(st.subarray(o, o + len * D), at(b, h, slots[t]) / es);
        });
      }
  }

  move(h: number, from: number, to: number, capacity: number): void {
    const es = this.esize;
    const bytes = this.g.headDim * es;
    for (let b = 0; b < this.g.batch; b++) {
      const f = rowOffset(this.g, capacity, b, h, from) * es;
      const t = rowOffset(this.g, capacity, b, h, to) * es;
      this.cuda.cudaCopyDevice(this.k.handle, t, this.k.handle, f, bytes);
      this.cuda.cudaCopyDevice(this.v.handle, t, this.v.handle, f, bytes);
    }
    if (this.mirror !== null) moveRow(this.g, this.mirror, capacity, h, from, to);
  }

  grow(old: number, capacity: number): void {
    const { batch: B, kvHeads: H, headDim: D } = this.g;
    const es = this.esize;
    const n = B * H * capacity * D;
    const k = new CudaStorage(this.cuda, this.device, this.g.dtype, n);
    let v: CudaStorage;
    try {
      v = new CudaStorage(this.cuda, this.device, this.g.dtype, n);
    } catch (e) {
      k.dispose();
      throw e;
    }
    for (let bh = 0; bh < B * H; bh++) {
      this.cuda.cudaCopyDevice(k.handle, bh * capacity * D * es, this.k.handle, bh * old * D * es, old * D * es);
      this.cuda.cudaCopyDevice(v.handle, bh * capacity * D * es, this.v.handle, bh * old * D * es, old * D * es);
    }
    this.k.dispose();
    this.v.dispose();
    this.k = k;
    this.v = v;
    this.capacity = capacity;
    if (this.mirror !== null) this.mirror = regrow(this.g, this.mirror, old, capacity);
  }

  get hostBytes(): number {
    return (this.mirror?.byteLength ?? 0) + this.staging.byteLength;
  }

  get deviceBytes(): number {
    return this.k.bytes + this.v.bytes;
  }

  /** Frees the device memory. */
  dispose(): void {
    this.k.dispose();
    this.v.dispose();
  }
}

/** Calls f(t, n) for each run of n slots consecutive from index t (runs of 1 unless `merge`). */
function forRuns(slots: readonly number[], merge: boolean, f: (t: number, n: number) => void): void {
  for (let t = 0; t < slots.length; ) {
    let n = 1;
    while (merge && t + n < slots.length && slots[t + n] === slots[t] + n) n++;
    f(t, n);
    t += n;
  }
}
