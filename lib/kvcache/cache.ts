/**
 * KVCache: attention for decoding with a bounded number of keys per kv head.
 *
 * `cache.attention(q, k, v, options)` appends k and v at the next positions, lets q (the last
 * q.seq positions) attend over the kept keys plus the new ones under the pattern (default causal),
 * evaluated on the keys' true positions, then evicts down to the budget. The kernels read the
 * cache's storage in place: its slots are the key axis, each slot's true position goes along as
 * `keyPositions` (−1 for a free slot), so nothing is gathered or copied per step. RoPE, when given,
 * is applied once: to each key as it is stored (at its true position) and to the queries of the
 * call; the kernels then run without it.
 *
 * The slots live in host memory (`device: 'cpu'`, the CPU, wasm or reference backend) or on a CUDA device (the CUDA
 * backend; device-rows.ts): the same bookkeeping, policies and bounds drive both, only the rows'
 * storage differs (rows.ts).
 */
import { takeSignal, type AsyncOptions } from '../abort.js';
import { runPlan, runPlanSync, selectionScorer } from '../attention/run.js';
import type { AttentionWithLse } from '../attention/run.js';
import type { AttentionOutputs as BackendResult } from '../backends/operands.js';
import { describeValue } from '../describe.js';
import { elementReader, encode16 } from '../dtypes.js';
import { patterns, toPattern } from '../patterns/index.js';
import type { Pattern } from '../patterns/pattern.js';
import type { ResolvedRope } from '../reference/problem.js';
import { applyRope, ropeInvFreq } from '../reference/rope.js';
import { requireCuda } from '../native/cuda.js';
import { planSelection } from '../select/index.js';
import type { Selection } from '../select/selection.js';
import { Tensor } from '../tensor.js';
import { checkGroupsAndDevice, checkOperands, planAttention, resolveRope, type AttentionOptions, type AttentionPlan, type Operand } from '../attention/plan.js';
import { CacheBounds } from './bounds.js';
import { resolveCacheOptions, type CacheConfig, type KVCacheOptions } from './options.js';
import { Evictor } from './policies.js';
import { SlotStore } from './store.js';
import type { HostRows } from './rows.js';
import { DeviceRows } from './device-rows.js';
import { collect, collectSync, type Collect } from './device-calls.js';

/** Options of cache.attention: attention()'s, without the ones the cache decides. */
export type CacheAttentionOptions = Omit<AttentionOptions, 'keyPositions' | 'queryPositions' | 'alignment' | 'returnKeyMass'>;

const CALL_KEYS = new Set(['pattern', 'causal', 'scale', 'softcap', 'alibi', 'rope', 'layout', 'backend', 'returnLse', 'out', 'select']);

interface Prepared {
  plan: AttentionPlan;
  selection: Selection | null;
  /** slots taken by this call, per kv head */
  taken: number[][];
  n: number;
  /** device cache: what comes back to the host, and the device copies of q made for the call */
  device: (Collect & { temps: Tensor[] }) | null;
}

export class KVCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: CacheConfig['dtype'];
  /** 'cpu', or the 'cuda:N' device whose memory holds the keys and values */
  readonly device: string;
  private readonly config: CacheConfig;
  private readonly store: SlotStore;
  /** the device storage of a CUDA cache (null: host) */
  private readonly deviceRows: DeviceRows | null = null;
  /** device cache, h2o / adaptive: the host array the key masses of each call come back into */
  private mass: Float32Array | null = null;
  private readonly evictor: Evictor;
  private readonly budgets: Int32Array;
  private bounds: CacheBounds | null = null;
  /** every kv head takes and frees the same slots (FIFO policies with one budget for all heads) */
  private readonly uniformSlots: boolean;
  private seenCount = 0;
  private busy = false;
  /** the RoPE of the first call that stored keys (every later call must use the same) */
  private rope: ResolvedRope | null | undefined = undefined;

  constructor(options: KVCacheOptions) {
    this.config = resolveCacheOptions(options);
    const c = this.config;
    this.batch = c.batch;
    this.kvHeads = c.kvHeads;
    this.headDim = c.headDim;
    this.dtype = c.dtype;
    this.device = c.device;
    this.budgets = Int32Array.from(c.budgets);
    const largest = c.policy === 'adaptive' ? c.maxPerHead : Math.max(...c.budgets);
    const compact = c.policy === 'h2o' || c.policy === 'adaptive';
    this.uniformSlots = !compact && c.budgets.every((b) => b === c.budgets[0]);
    const cuda = c.device === 'cpu' ? null : requireCuda(c.device, 'new KVCache');
    const rows = cuda === null ? undefined : (cap: number) => new DeviceRows(cuda, c.device, c, cap);
    this.store = new SlotStore(c.batch, c.kvHeads, c.headDim, c.dtype, largest + c.maxChunk, compact, rows);
    if (this.store.rows instanceof DeviceRows) this.deviceRows = this.store.rows;
    this.evictor = new Evictor(c, this.store);
    this.store.onMove = (h, from, to) => {
      this.evictor.onMove(h, from, to);
      this.bounds?.onRelease(h, from);
      this.bounds?.onRelease(h, to);
    };
  }

  /** The eviction policy. */
  get policy(): CacheConfig['policy'] {
    return this.config.policy;
  }

  /** Positions appended so far. */
  get seen(): number {
    return this.seenCount;
  }

  /** Keys kept per kv head (the largest count when heads keep different numbers). */
  get length(): number {
    return Math.max(...this.store.kept);
  }

  /** Keys kept by kv head `head`. */
  lengthOf(head: number): number {
    return this.store.kept[this.head(head)];
  }

  /** The current budget of each kv head (for 'adaptive', the split of the total it arrived at). */
  budgetsPerHead(): Int32Array {
    return Int32Array.from(this.budgets);
  }

  /** Kept positions of kv head `head`, ascending. */
  positions(head = 0): Int32Array {
    const h = this.head(head);
    const cap = this.store.capacity;
    const out = new Int32Array(this.store.kept[h]);
    let n = 0;
    for (let s = 0; s < cap; s++) {
      const p = this.store.pos[h * cap + s];
      if (p >= 0) out[n++] = p;
    }
    return out.sort();
  }

  /**
   * Bytes of host memory the cache holds (keys and values of a host cache, slot tables, scores,
   * bounds; for a device cache the host mirror of the keys that `select` keeps, and staging).
   */
  get bytes(): number {
    return this.store.bytes + (this.evictor.scores?.byteLength ?? 0) + (this.bounds?.bytes ?? 0) + (this.mass?.byteLength ?? 0);
  }

  /** Bytes of device memory the cache holds (its keys and values; 0 for a host cache). */
  get deviceBytes(): number {
    return this.store.rows.deviceBytes;
  }

  /**
   * Frees a device cache's memory now (else the garbage collector frees it with the cache); the
   * cache cannot be used afterwards. Nothing to do for a host cache.
   */
  dispose(): void {
    if (this.busy) throw new Error('cache.dispose: a call on this cache has not finished; await it first');
    this.deviceRows?.dispose();
  }

  private head(head: unknown): number {
    if (typeof head !== 'number' || !Number.isInteger(head)) throw new TypeError(`head must be an integer (got ${describeValue(head)})`);
    if (head < 0 || head >= this.kvHeads) throw new RangeError(`head must be in [0, ${this.kvHeads - 1}] (got ${head})`);
    return head;
  }

  /**
   * Attention of q over the kept keys plus k (appended), then eviction; see the class comment.
   * `options.signal` aborts it; an aborted (or failed) call leaves the cache as it was.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, options: CacheAttentionOptions & AsyncOptions & { returnLse: true }): Promise<AttentionWithLse>;
  attention(q: Tensor, k: Tensor, v: Tensor, options?: CacheAttentionOptions & AsyncOptions & { returnLse?: false }): Promise<Tensor>;
  attention(q: Tensor, k: Tensor, v: Tensor, options?: CacheAttentionOptions & AsyncOptions): Promise<Tensor | AttentionWithLse>;
  async attention(q: Tensor, k: Tensor, v: Tensor, options?: CacheAttentionOptions & AsyncOptions): Promise<Tensor | AttentionWithLse> {
    const { signal, options: rest } = takeSignal(options);
    const prep = this.prepare(q, k, v, rest);
    this.busy = true;
    let r: BackendResult;
    try {
      r = await runPlan(prep.plan, prep.selection, signal);
      if (prep.device) r = await collect(r, prep.device, signal);
    } catch (e) {
      this.rollback(prep);
      throw e;
    } finally {
      this.busy = false;
      for (const t of prep.device?.temps ?? []) t.dispose();
    }
    return this.finish(prep, r);
  }

  /** cache.attention() on the calling thread. */
  attentionSync(q: Tensor, k: Tensor, v: Tensor, options: CacheAttentionOptions & { returnLse: true }): AttentionWithLse;
  attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: CacheAttentionOptions & { returnLse?: false }): Tensor;
  attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: CacheAttentionOptions): Tensor | AttentionWithLse;
  attentionSync(q: Tensor, k: Tensor, v: Tensor, options?: CacheAttentionOptions): Tensor | AttentionWithLse {
    const prep = this.prepare(q, k, v, options);
    let r: BackendResult;
    try {
      r = runPlanSync(prep.plan, prep.selection);
      if (prep.device) r = collectSync(r, prep.device);
    } catch (e) {
      this.rollback(prep);
      throw e;
    } finally {
      for (const t of prep.device?.temps ?? []) t.dispose();
    }
    return this.finish(prep, r);
  }

  private prepare(q: unknown, k: unknown, v: unknown, options: unknown): Prepared {
    if (this.busy) throw new Error('cache.attention: the previous call on this cache has not finished; await it first');
    const { o, Q, K, V, dtype } = checkOperands<CacheAttentionOptions>(q, k, v, options, CALL_KEYS, true);
    checkGroupsAndDevice(Q, K, V);
    const c = this.config;
    if (dtype !== c.dtype) throw new TypeError(`q, k and v have dtype ${dtype} but the cache holds ${c.dtype}`);
    const hostInputs = Q.tensor.device === 'cpu';
    if (this.deviceRows === null && !hostInputs) throw new RangeError(`q, k and v must be host tensors for a host cache (got ${Q.tensor.device})`);
    if (this.deviceRows !== null) {
      if (!hostInputs && Q.tensor.device !== this.device) throw new RangeError(`q, k and v are on ${Q.tensor.device} but the cache is on ${this.device}`);
      if (hostInputs && o.out !== undefined) throw new RangeError(`options.out: with host q, k and v a cache on ${this.device} returns a new host tensor; pass device tensors to write into options.out`);
      if (!hostInputs && Q.layout !== Q.tensor.layout) throw new RangeError(`options.layout: a cache on ${this.device} reads device q in its own layout (${Q.tensor.layout})`);
    }
    for (const [name, t] of [['q', Q], ['k', K], ['v', V]] as const) {
      if (t.batch !== c.batch) throw new RangeError(`${name} has batch ${t.batch} but the cache was made for ${c.batch}`);
      if (t.headDim !== c.headDim) throw new RangeError(`${name} has headDim ${t.headDim} but the cache was made for ${c.headDim}`);
    }
    for (const [name, t] of [['k', K], ['v', V]] as const) {
      if (t.heads !== c.kvHeads) throw new RangeError(`${name} has ${t.heads} heads but the cache was made for ${c.kvHeads} kv heads`);
    }
    if (V.seq !== K.seq) throw new RangeError(`v has seq ${V.seq} but k has ${K.seq}`);
    const n = K.seq;
    if (Q.seq < 1 || Q.seq > this.seenCount + n) {
      throw new RangeError(`q holds ${Q.seq} query rows; it must hold between 1 and the positions seen plus k's (${this.seenCount + n})`);
    }
    const rope = resolveRope(o.rope, c.headDim);
    if (this.rope !== undefined && !sameRope(this.rope, rope)) {
      throw new RangeError("options.rope must be the same on every call of a KVCache: the stored keys were rotated once, with the first call's RoPE");
    }
    if (o.select !== undefined && o.select !== null && typeof o.select === 'object' && (o.select.blockSize ?? 64) !== c.blockSize) {
      throw new RangeError(`options.select.blockSize must be the cache's blockSize (${c.blockSize}), whose key bounds the cache keeps`);
    }
    if (this.seenCount + n > 2 ** 31 - 1) throw new RangeError('the cache has seen 2^31 − 1 positions, the most positions can hold');

    // room for the new keys (grows the storage only when a call brings more keys than ever before)
    let short = 0;
    for (let h = 0; h < c.kvHeads; h++) short = Math.max(short, n - this.store.room(h));
    if (short > 0) {
      const old = this.store.capacity;
      this.store.grow(old + short);
      this.evictor.onGrow(old);
      this.bounds?.resize();
    }

    const start = this.seenCount;
    const taken: number[][] = Array.from({ length: c.kvHeads }, () => []);
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < c.kvHeads; h++) {
        const s = this.store.take(h, start + t);
        taken[h].push(s);
        this.evictor.onTake(h, s, start + t);
      }
    }
    const firstQuery = start + n - Q.seq;
    const temps: Tensor[] = [];
    try {
      const selecting = o.select !== undefined && o.select !== null;
      if (selecting) this.deviceRows?.keepMirror();
      this.store.rows.write({ k: K, v: V, taken, start, rope }, this.store.capacity);
      if (this.bounds) for (let h = 0; h < c.kvHeads; h++) for (const s of taken[h]) this.bounds.onStore(h, s);
      const cap = this.store.capacity;
      const shape = [c.batch, c.kvHeads, cap, c.headDim];
      let qIn: Tensor;
      let kStore: Tensor;
      let vStore: Tensor;
      if (this.deviceRows === null) {
        qIn = rope ? rotated(Q, firstQuery, rope) : Q.layout === Q.tensor.layout ? Q.tensor : Tensor.from(Q.tensor.data, Q.tensor.shape, { dtype, layout: Q.layout });
        kStore = Tensor.from((this.store.rows as HostRows).k, shape, { dtype });
        vStore = Tensor.from((this.store.rows as HostRows).v, shape, { dtype });
      } else {
        // RoPE on the host at the queries' true positions (a decode step's q is one row per head)
        const hostQ = hostInputs ? Q : { ...Q, tensor: Q.tensor.to('cpu') };
        if (rope) qIn = rotated(hostQ, firstQuery, rope).to(this.device);
        else if (hostInputs) qIn = (Q.layout === Q.tensor.layout ? Q.tensor : Tensor.from(Q.tensor.data, Q.tensor.shape, { dtype, layout: Q.layout })).to(this.device);
        else qIn = Q.tensor;
        if (qIn !== Q.tensor) temps.push(qIn);
        // views of the cache's own buffers (never disposed: the cache owns them)
        kStore = Tensor.fromDeviceStorage(this.deviceRows.k, shape, { dtype });
        vStore = Tensor.fromDeviceStorage(this.deviceRows.v, shape, { dtype });
      }
      let pattern: Pattern | string = o.pattern ?? 'causal';
      if (o.causal === true) pattern = patterns.intersect(patterns.causal(), toPattern(pattern));
      const checked = planAttention(qIn, kStore, vStore, {
        pattern,
        causal: typeof o.causal === 'boolean' ? undefined : o.causal,
        scale: o.scale,
        softcap: o.softcap,
        alibi: o.alibi,
        backend: o.backend,
        returnLse: o.returnLse,
        out: o.out,
        select: o.select,
        returnKeyMass: this.evictor.needsKeyMass,
      });
      // the cache's own slot positions go to the kernels as they are (no copy): one list for all kv
      // heads when they evict alike, else one per kv head
      const keyPositions = this.uniformSlots ? this.store.pos.subarray(0, cap) : this.store.pos;
      const plan: AttentionPlan = { ...checked, positions: { queryStart: firstQuery, queryPositions: null, keyPositions } };
      let selection: Selection | null = null;
      if (plan.select !== null) {
        this.bounds ??= new CacheBounds(this.store, c.blockSize);
        selection = planSelection(plan, this.bounds.current(), selectionScorer(plan));
      }
      if (this.rope === undefined && n > 0) this.rope = rope;
      let device: Prepared['device'] = null;
      if (this.deviceRows !== null) {
        const massLength = c.batch * c.kvHeads * cap;
        if (this.evictor.needsKeyMass && this.mass?.length !== massLength) this.mass = new Float32Array(massLength);
        device = { mass: this.evictor.needsKeyMass ? this.mass : null, hostInputs, returnLse: plan.returnLse, temps };
      }
      return { plan, selection, taken, n, device };
    } catch (e) {
      for (const t of temps) t.dispose();
      this.rollback({ taken, n });
      throw e;
    }
  }

  /** Undoes the appends of a call that failed. */
  private rollback(prep: Pick<Prepared, 'taken' | 'n'>): void {
    for (let h = 0; h < this.kvHeads; h++) {
      for (const s of [...prep.taken[h]].sort((a, b) => b - a)) {
        this.store.release(h, s);
        this.bounds?.onRelease(h, s);
      }
      this.evictor.undoTakes(h, prep.taken[h].length, this.seenCount);
    }
  }

  private finish(prep: Prepared, r: BackendResult): Tensor | AttentionWithLse {
    this.seenCount += prep.n;
    if (r.keyMass) this.evictor.accumulate(r.keyMass.data as Float32Array);
    this.evictor.evict(this.seenCount, this.budgets, (h, s) => {
      this.store.release(h, s);
      this.bounds?.onRelease(h, s);
    });
    return prep.plan.returnLse ? { out: r.out, lse: r.lse! } : r.out;
  }
}

function sameRope(a: ResolvedRope | null, b: ResolvedRope | null): boolean {
  if (a === null || b === null) return a === b;
  return a.base === b.base && a.style === b.style && a.offset === b.offset && a.dims === b.dims;
}

/** A copy of q (same shape, dtype and layout) with RoPE applied at positions first, first + 1, … */
function rotated(Q: Operand, first: number, rope: ResolvedRope): Tensor {
  const t = Q.tensor;
  const out = Tensor.zeros(t.shape, { dtype: t.dtype, layout: Q.layout });
  const data = out.data;
  data.set(t.data);
  const read = elementReader(data, t.dtype);
  const inv = ropeInvFreq(rope, Q.headDim);
  const D = Q.headDim;
  const row = new Float64Array(D);
  const f32 = new Float32Array(D);
  for (let b = 0; b < Q.batch; b++)
    for (let h = 0; h < Q.heads; h++)
      for (let i = 0; i < Q.seq; i++) {
        const off = b * Q.strides[0] + h * Q.strides[1] + i * Q.strides[2];
        for (let d = 0; d < D; d++) row[d] = read(off + d);
        applyRope(row, first + i, rope, inv);
        if (data instanceof Float32Array) for (let d = 0; d < D; d++) data[off + d] = row[d];
        else {
          for (let d = 0; d < D; d++) f32[d] = row[d];
          encode16(f32, t.dtype as 'float16' | 'bfloat16', data.subarray(off, off + D));
        }
      }
  return out;
}
