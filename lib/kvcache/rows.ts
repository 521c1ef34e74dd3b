/**
 * Where a KVCache's K and V rows live: the small interface the slot bookkeeping (store.ts) drives,
 * with the host implementation here and the device one in device-rows.ts. The cache, its policies,
 * bounds and options are the same for both; only these few operations differ.
 */
import { elementReader, encode16, type DType } from '../dtypes.js';
import type { Operand } from '../attention/plan.js';
import type { ResolvedRope } from '../reference/problem.js';
import { applyRope, ropeInvFreq } from '../reference/rope.js';

/** The shape of a cache's rows: [batch, kvHeads, capacity, headDim] of dtype. */
export interface RowGeometry {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: DType;
}

/** The rows of one call to store: `taken[h][t]` is the slot of row t of kv head h, at position start + t. */
export interface RowWrite {
  readonly k: Operand;
  readonly v: Operand;
  readonly taken: readonly (readonly number[])[];
  readonly start: number;
  /** applied to the keys, once, at their true positions */
  readonly rope: ResolvedRope | null;
}

export interface SlotRows {
  /**
   * The keys on the host, for the per-block bounds of option `select`: the keys themselves for a
   * host cache; for a device cache a mirror, kept only once `select` asked for it (see device-rows.ts).
   */
  readonly hostK: Float32Array | Uint16Array;
  /** Stores the rows of one call (synchronously: the device copies are issued in stream order). */
  write(w: RowWrite, capacity: number): void;
  /** Copies slot `from` of kv head h into slot `to`, K and V, for every batch element. */
  move(h: number, from: number, to: number, capacity: number): void;
  /** Lays the rows out for a larger capacity (one copy of everything held). */
  grow(old: number, capacity: number): void;
  /** bytes of host memory held */
  readonly hostBytes: number;
  /** bytes of device memory held (0 for a host cache) */
  readonly deviceBytes: number;
}

/** Element offset of (b, h, slot) in [batch, kvHeads, capacity, headDim] rows. */
export function rowOffset(g: RowGeometry, capacity: number, b: number, h: number, s: number): number {
  return ((b * g.kvHeads + h) * capacity + s) * g.headDim;
}

function newRows(dtype: DType, n: number): Float32Array | Uint16Array {
  return dtype === 'float32' ? new Float32Array(n) : new Uint16Array(n);
}

/**
 * Copies the rows of operand `src` into `dst` at `offset(b, h, taken[h][t])`, RoPE applied at
 * position start + t when given (in float64, rounded once to the dtype: host and device caches
 * store the same bits).
 */
export function writeRows(
  g: RowGeometry,
  src: Operand,
  dst: Float32Array | Uint16Array,
  offset: (b: number, h: number, s: number) => number,
  taken: readonly (readonly number[])[],
  start: number,
  rope: ResolvedRope | null,
): void {
  const { batch: B, kvHeads: H, headDim: D } = g;
  const data = src.tensor.data;
  const [s0, s1, s2] = src.strides;
  if (rope === null) {
    // copy runs of rows that are consecutive in both the source and the slots at once
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const slots = taken[h];
        for (let t = 0; t < slots.length; ) {
          let n = 1;
          while (t + n < slots.length && slots[t + n] === slots[t] + n && s2 === D) n++;
          const off = b * s0 + h * s1 + t * s2;
          dst.set(data.subarray(off, off + (n - 1) * s2 + D), offset(b, h, slots[t]));
          t += n;
        }
      }
    return;
  }
  const read = elementReader(data, src.tensor.dtype);
  const inv = ropeInvFreq(rope, D);
  const row = new Float64Array(D);
  const f32 = new Float32Array(D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < taken[h].length; t++) {
        const off = b * s0 + h * s1 + t * s2;
        for (let d = 0; d < D; d++) row[d] = read(off + d);
        applyRope(row, start + t, rope, inv);
        const at = offset(b, h, taken[h][t]);
        if (dst instanceof Float32Array) for (let d = 0; d < D; d++) dst[at + d] = row[d];
        else {
          for (let d = 0; d < D; d++) f32[d] = row[d];
          encode16(f32, src.tensor.dtype as 'float16' | 'bfloat16', dst.subarray(at, at + D));
        }
      }
}

/** Copies [batch, kvHeads, old, headDim] rows into new [batch, kvHeads, capacity, headDim] rows. */
export function regrow(g: RowGeometry, rows: Float32Array | Uint16Array, old: number, capacity: number): Float32Array | Uint16Array {
  const D = g.headDim;
  const out = newRows(g.dtype, g.batch * g.kvHeads * capacity * D);
  for (let bh = 0; bh < g.batch * g.kvHeads; bh++) out.set(rows.subarray(bh * old * D, (bh + 1) * old * D), bh * capacity * D);
  return out;
}

/** Copies slot `from` of kv head h to slot `to` in host rows, for every batch element. */
export function moveRow(g: RowGeometry, rows: Float32Array | Uint16Array, capacity: number, h: number, from: number, to: number): void {
  for (let b = 0; b < g.batch; b++) {
    const f = rowOffset(g, capacity, b, h, from);
    rows.copyWithin(rowOffset(g, capacity, b, h, to), f, f + g.headDim);
  }
}

/** K and V in host memory: the layout the CPU kernels read in place. */
export class HostRows implements SlotRows {
  k: Float32Array | Uint16Array;
  v: Float32Array | Uint16Array;

  constructor(
    private readonly g: RowGeometry,
    capacity: number,
  ) {
    const n = g.batch * g.kvHeads * capacity * g.headDim;
    this.k = newRows(g.dtype, n);
    this.v = newRows(g.dtype, n);
  }

  get hostK(): Float32Array | Uint16Array {
    return this.k;
  }

  write(w: RowWrite, capacity: number): void {
    const at = (b: number, h: number, s: number) => rowOffset(this.g, capacity, b, h, s);
    writeRows(this.g, w.k, this.k, at, w.taken, w.start, w.rope);
    writeRows(this.g, w.v, this.v, at, w.taken, w.start, null);
  }

  move(h: number, from: number, to: number, capacity: number): void {
    moveRow(this.g, this.k, capacity, h, from, to);
    moveRow(this.g, this.v, capacity, h, from, to);
  }

  grow(old: number, capacity: number): void {
    this.k = regrow(this.g, this.k, old, capacity);
    this.v = regrow(this.g, this.v, old, capacity);
  }

  get hostBytes(): number {
    return this.k.byteLength + this.v.byteLength;
  }

  get deviceBytes(): number {
    return 0;
  }
}
