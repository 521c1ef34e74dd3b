/**
 * Checks every argument of attention() once, before any backend runs, and resolves the options
 * into an AttentionPlan. Every error names the argument and says what was expected.
 */
import { describeValue } from '../describe.js';
import type { DType } from '../dtypes.js';
import { patterns, toPattern } from '../patterns/index.js';
import type { Pattern } from '../patterns/pattern.js';
import { resolvePositions, type Alignment, type ResolvedPositions } from '../positions.js';
import { alibiSlopes } from '../reference/alibi.js';
import type { ResolvedRope } from '../reference/problem.js';
import { Tensor } from '../tensor.js';

export type Layout = 'bhsd' | 'bshd';
export type BackendName = 'auto' | 'cuda' | 'cpu' | 'reference';

export interface RopeOptions {
  /** frequency base (default 10000) */
  base?: number;
  /** 'half' pairs (x[i], x[i + dims/2]) as in GPT-NeoX/Llama; 'interleaved' pairs (x[2i], x[2i+1]) as in GPT-J */
  style?: 'half' | 'interleaved';
  /** added to every query and key position (default 0), e.g. the length of a cached prefix */
  offset?: number;
  /** rotate only the leading `dims` dimensions (even; default headDim) */
  dims?: number;
}

export interface AttentionOptions {
  /** neighborhood pattern (a Pattern or its string); default full */
  pattern?: Pattern | string;
  /** shorthand for intersecting the pattern with `causal` */
  causal?: boolean;
  /** score scale; default 1/sqrt(headDim) */
  scale?: number;
  /** s ← softcap·tanh(s/softcap), after scaling */
  softcap?: number;
  /** true: the standard slopes 2^(−8h/H); or one slope per query head */
  alibi?: boolean | Float32Array;
  rope?: RopeOptions;
  /** how q, k and v are laid out; default: each tensor's own layout */
  layout?: Layout;
  backend?: BackendName;
  /** also return the log-sum-exp of each query row's scores */
  returnLse?: boolean;
  /** write the result into this tensor (same shape, dtype and layout as q) instead of a new one */
  out?: Tensor;
  /**
   * Where the queries sit when seqQ ≠ seqK: 'bottom-right' (default; the last seqQ positions, as
   * FlashAttention ≥ 2.1) or 'top-left' (query i at position i, as PyTorch SDPA's is_causal).
   */
  alignment?: Alignment;
  /**
   * True key positions (keys kept by a cache after evicting others): seqK entries shared by every
   * kv head, or kvHeads × seqK (head-major). A negative entry is an empty slot, never read.
   * Patterns, ALiBi and RoPE use these positions. With them, bottom-right alignment puts the last
   * query at the largest key position.
   */
  keyPositions?: Int32Array;
  /** one position per query row (instead of the alignment rule) */
  queryPositions?: Int32Array;
  /**
   * Also return each key's attention mass: `{ out, lse, keyMass }`, keyMass a float32
   * [batch, kvHeads, seqK] tensor, the sum over the query rows of the kv head's query heads of the
   * softmax probabilities.
   */
  returnKeyMass?: boolean;
  /**
   * Query-aware block selection (Quest): for each query block (blockSize rows) and kv head keep the
   * `blocks` key blocks of blockSize keys with the highest upper bound on q·k (from per-block,
   * per-channel key min/max), among the blocks the pattern reaches, plus the diagonal block; the
   * attention over them is exact. The selection is computed on the host on every backend (for
   * device tensors, q and k are copied back once per call; a device KVCache keeps its bounds on the
   * host instead) and run as a BlockMask by the backend's own kernels.
   */
  select?: SelectOptions;
}

export interface SelectOptions {
  /** key blocks kept per query block and kv head (besides the diagonal block) */
  blocks: number;
  /** keys per block (default 64) */
  blockSize?: number;
}

/** Select options with defaults resolved. */
export interface ResolvedSelect {
  readonly blocks: number;
  readonly blockSize: number;
}

/** One operand's logical [batch, heads, seq, headDim] geometry. */
export interface Operand {
  readonly tensor: Tensor;
  readonly layout: Layout;
  readonly batch: number;
  readonly heads: number;
  readonly seq: number;
  readonly headDim: number;
  readonly strides: [number, number, number, number];
}

export interface AttentionPlan {
  readonly q: Operand;
  readonly k: Operand;
  readonly v: Operand;
  readonly dtype: DType;
  readonly pattern: Pattern;
  readonly scale: number;
  readonly softcap: number;
  readonly alibiSlopes: Float64Array | null;
  readonly rope: ResolvedRope | null;
  readonly backend: BackendName;
  readonly returnLse: boolean;
  readonly out: Tensor | null;
  readonly positions: ResolvedPositions;
  readonly returnKeyMass: boolean;
  readonly select: ResolvedSelect | null;
}

const OPTION_KEYS = new Set([
  'pattern', 'causal', 'scale', 'softcap', 'alibi', 'rope', 'layout', 'backend', 'returnLse', 'out',
  'alignment', 'keyPositions', 'queryPositions', 'returnKeyMass', 'select',
]);

/** the largest select.blockSize (a BlockMask bit tile of blockSize columns must stay small) */
export const MAX_SELECT_BLOCK = 4096;

function resolveSelect(x: unknown): ResolvedSelect | null {
  if (x === undefined) return null;
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new TypeError(`options.select must be an object { blocks, blockSize? } (got ${describeValue(x)})`);
  for (const key of Object.keys(x)) {
    if (key !== 'blocks' && key !== 'blockSize') throw new TypeError(`options.select.${key} is not an option (expected blocks, blockSize)`);
  }
  const o = x as SelectOptions;
  const blocks = checkInteger('options.select.blocks', o.blocks, 1);
  const blockSize = checkInteger('options.select.blockSize', o.blockSize ?? 64, 1);
  if (blockSize > MAX_SELECT_BLOCK) throw new RangeError(`options.select.blockSize must be ≤ ${MAX_SELECT_BLOCK} (got ${blockSize})`);
  return { blocks, blockSize };
}
const BACKENDS: readonly BackendName[] = ['auto', 'cuda', 'cpu', 'reference'];

/** the smallest normal float32: a positive softcap below it would vanish or overflow 1/softcap in float32 */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/** Whether a number survives rounding to float32 (the backends' score arithmetic) as a finite value. */
function finiteFloat32(x: number): boolean {
  return Number.isFinite(Math.fround(x));
}

/**
 * A host tensor's storage in a resizable ArrayBuffer could shrink under a running asynchronous
 * call (its memory decommitted): native backends refuse it, so refuse it here, naming the tensor.
 */
function checkFixedStorage(name: string, t: Tensor): void {
  if (t.device !== 'cpu') return;
  const buffer = t.data.buffer as ArrayBufferLike & { resizable?: boolean };
  if (buffer.resizable === true) {
    throw new TypeError(`${name}'s data is backed by a resizable ArrayBuffer, which attention cannot use safely; copy it into a fixed-length array (e.g. tensor.to('cpu'))`);
  }
}

/** Whether two host tensors' storage shares any byte. */
function sharesMemory(a: Tensor, b: Tensor): boolean {
  if (a.device !== 'cpu' || b.device !== 'cpu') return false;
  const x = a.data;
  const y = b.data;
  if (x.buffer !== y.buffer || x.byteLength === 0 || y.byteLength === 0) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

function operand(name: string, t: unknown, layout: Layout | undefined, fixedStorage: boolean): Operand {
  if (!(t instanceof Tensor)) throw new TypeError(`${name} must be a Tensor (got ${describeValue(t)})`);
  if (t.disposed) throw new Error(`${name} was disposed`);
  if (fixedStorage) checkFixedStorage(name, t);
  if (t.shape.length !== 4) {
    throw new RangeError(`${name} must be 4-D [batch, heads, seq, headDim] (or [batch, seq, heads, headDim] with layout 'bshd'); got shape [${t.shape.join(', ')}]`);
  }
  const l = layout ?? t.layout;
  const [d0, d1, d2, d3] = t.shape;
  const [batch, heads, seq] = l === 'bhsd' ? [d0, d1, d2] : [d0, d2, d1];
  // Strides of the contiguous storage, permuted into logical bhsd order.
  const s = [d1 * d2 * d3, d2 * d3, d3, 1];
  const strides: [number, number, number, number] = l === 'bhsd' ? [s[0], s[1], s[2], s[3]] : [s[0], s[2], s[1], s[3]];
  return { tensor: t, layout: l, batch, heads, seq, headDim: d3, strides };
}

/** A value as it appears in an error message; never throws (String() does for some objects). */
function shown(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'symbol') return x.toString();
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return String(x);
  return describeValue(x);
}

function checkInteger(name: string, x: unknown, min: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x)) throw new TypeError(`${name} must be an integer (got ${typeof x === 'number' ? String(x) : shown(x)})`);
  if (x < min) throw new RangeError(`${name} must be ≥ ${min} (got ${x})`);
  return x;
}

export function resolveRope(r: unknown, headDim: number): ResolvedRope | null {
  if (r === undefined || r === null || r === false) return null;
  if (typeof r !== 'object') throw new TypeError(`options.rope must be an object like { base, style, offset, dims } (got ${describeValue(r)})`);
  const o = r as RopeOptions;
  for (const key of Object.keys(o)) {
    if (!['base', 'style', 'offset', 'dims'].includes(key)) throw new TypeError(`options.rope.${key} is not an option (expected base, style, offset, dims)`);
  }
  const base = o.base ?? 10000;
  if (typeof base !== 'number' || !finiteFloat32(base) || base <= 1) throw new RangeError(`options.rope.base must be a finite (float32) number > 1 (got ${shown(base)})`);
  const style = o.style ?? 'half';
  if (style !== 'half' && style !== 'interleaved') throw new RangeError(`options.rope.style must be 'half' or 'interleaved' (got ${shown(style)})`);
  const offset = o.offset ?? 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) throw new TypeError(`options.rope.offset must be an integer (got ${shown(offset)})`);
  // the native backends hold positions and the offset in 32 bits
  if (offset < -(2 ** 31) || offset > 2 ** 31 - 1) throw new RangeError(`options.rope.offset must be in [-2^31, 2^31 - 1] (got ${offset})`);
  const dims = o.dims ?? headDim - (headDim % 2);
  checkInteger('options.rope.dims', dims, 2);
  if (dims % 2 !== 0 || dims > headDim) throw new RangeError(`options.rope.dims must be even and ≤ headDim ${headDim} (got ${dims})`);
  return { base, style, offset, dims };
}

function resolveAlibi(a: unknown, heads: number): Float64Array | null {
  if (a === undefined || a === false) return null;
  if (a === true) return alibiSlopes(heads);
  if (!(a instanceof Float32Array)) throw new TypeError(`options.alibi must be true or a Float32Array of per-head slopes (got ${describeValue(a)})`);
  if (a.length !== heads) throw new RangeError(`options.alibi must hold one slope per query head: expected ${heads}, got ${a.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new RangeError(`options.alibi[${i}] must be finite (got ${a[i]})`);
  }
  return Float64Array.from(a);
}

/** The options object and the q, k and v operands, as checkOperands found them. */
export interface CheckedOperands<O> {
  readonly o: O;
  readonly Q: Operand;
  readonly K: Operand;
  readonly V: Operand;
  /** the dtype of q, k and v */
  readonly dtype: DType;
}

/**
 * The first checks of attention() and linearAttention(), in this order: options is undefined or
 * an object whose keys are all in `optionKeys`, with no layout or 'bhsd' or 'bshd'; q, k and v are
 * live 4-D Tensors (with `fixedStorage`, none of them in a resizable ArrayBuffer), read as
 * [batch, heads, seq, headDim] in that layout, of one dtype.
 */
export function checkOperands<O extends { layout?: Layout }>(
  q: unknown,
  k: unknown,
  v: unknown,
  options: unknown,
  optionKeys: ReadonlySet<string>,
  fixedStorage: boolean,
): CheckedOperands<O> {
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new TypeError(`options must be an object (got ${describeValue(options)})`);
  }
  const o = (options ?? {}) as O;
  for (const key of Object.keys(o)) {
    if (key === 'signal') throw new TypeError('options.signal is not an option of the synchronous functions: they run on the calling thread and cannot be aborted (use the async function)');
    if (!optionKeys.has(key)) throw new TypeError(`options.${key} is not an option (expected one of ${[...optionKeys].join(', ')})`);
  }
  if (o.layout !== undefined && o.layout !== 'bhsd' && o.layout !== 'bshd') {
    throw new RangeError(`options.layout must be 'bhsd' or 'bshd' (got ${shown(o.layout)})`);
  }
  const Q = operand('q', q, o.layout, fixedStorage);
  const K = operand('k', k, o.layout, fixedStorage);
  const V = operand('v', v, o.layout, fixedStorage);
  const dtype = Q.tensor.dtype;
  for (const [name, t] of [['k', K], ['v', V]] as const) {
    if (t.tensor.dtype !== dtype) throw new TypeError(`${name} has dtype ${t.tensor.dtype} but q has ${dtype}: q, k and v must share one dtype`);
  }
  return { o, Q, K, V, dtype };
}

/**
 * The last geometry checks of attention() and linearAttention(): q's heads are a multiple of k's
 * and v's (grouped-query attention), and q, k and v are on one device, which it returns.
 */
export function checkGroupsAndDevice(Q: Operand, K: Operand, V: Operand): string {
  if (K.heads < 1 || Q.heads % K.heads !== 0) {
    throw new RangeError(`q's heads (${Q.heads}) must be a multiple of k's and v's heads (${K.heads}) for grouped-query attention`);
  }
  const devices = new Set([Q.tensor.device, K.tensor.device, V.tensor.device]);
  if (devices.size > 1) throw new RangeError(`q, k and v must be on one device (got ${[...devices].join(', ')})`);
  return Q.tensor.device;
}

/** Validates q, k, v and options; returns the resolved plan. Never modifies its arguments. */
export function planAttention(q: unknown, k: unknown, v: unknown, options: unknown): AttentionPlan {
  const { o, Q, K, V, dtype } = checkOperands<AttentionOptions>(q, k, v, options, OPTION_KEYS, true);
  for (const [name, t] of [['k', K], ['v', V]] as const) {
    if (t.batch !== Q.batch) throw new RangeError(`${name} has batch ${t.batch} but q has ${Q.batch}`);
    if (t.headDim !== Q.headDim) throw new RangeError(`${name} has headDim ${t.headDim} but q has ${Q.headDim}`);
  }
  if (V.heads !== K.heads) throw new RangeError(`v has ${V.heads} heads but k has ${K.heads}`);
  if (V.seq !== K.seq) throw new RangeError(`v has seq ${V.seq} but k has ${K.seq}`);
  if (Q.headDim < 1) throw new RangeError('q has headDim 0; headDim must be ≥ 1');
  checkGroupsAndDevice(Q, K, V);

  let pattern = o.pattern === undefined ? toPattern('full') : toPattern(o.pattern);
  if (o.causal !== undefined && typeof o.causal !== 'boolean') throw new TypeError(`options.causal must be a boolean (got ${describeValue(o.causal)})`);
  if (o.causal) pattern = patterns.intersect(patterns.causal(), pattern);

  const scale = o.scale ?? 1 / Math.sqrt(Q.headDim);
  if (typeof scale !== 'number' || !finiteFloat32(scale) || scale <= 0) throw new RangeError(`options.scale must be a finite (float32) number > 0 (got ${shown(scale)})`);
  const softcap = o.softcap ?? 0;
  if (typeof softcap !== 'number' || !finiteFloat32(softcap) || softcap < 0 || (softcap > 0 && softcap < FLOAT32_MIN_NORMAL)) {
    throw new RangeError(`options.softcap must be 0 (none) or a finite (float32) number ≥ 2^-126 (got ${shown(softcap)})`);
  }

  const backend = o.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) throw new RangeError(`options.backend must be one of ${BACKENDS.map((b) => `'${b}'`).join(', ')} (got ${shown(backend)})`);
  if (o.returnLse !== undefined && typeof o.returnLse !== 'boolean') throw new TypeError(`options.returnLse must be a boolean (got ${describeValue(o.returnLse)})`);
  if (o.returnKeyMass !== undefined && typeof o.returnKeyMass !== 'boolean') throw new TypeError(`options.returnKeyMass must be a boolean (got ${describeValue(o.returnKeyMass)})`);
  const positions = resolvePositions(o, Q.seq, K.heads, K.seq);
  const select = resolveSelect(o.select);

  let out: Tensor | null = null;
  if (o.out !== undefined) {
    if (!(o.out instanceof Tensor)) throw new TypeError(`options.out must be a Tensor (got ${describeValue(o.out)})`);
    if (o.out.disposed) throw new Error('options.out was disposed');
    if (o.out.dtype !== dtype || o.out.shape.join() !== Q.tensor.shape.join() || o.out.layout !== Q.layout || o.out.device !== Q.tensor.device) {
      throw new RangeError(`options.out must match q: ${dtype} [${Q.tensor.shape.join(', ')}] ${Q.layout} on ${Q.tensor.device} (got ${o.out.dtype} [${o.out.shape.join(', ')}] ${o.out.layout} on ${o.out.device})`);
    }
    if ([q, k, v].includes(o.out)) throw new RangeError('options.out must not be q, k or v');
    checkFixedStorage('options.out', o.out);
    for (const [name, t] of [['q', Q], ['k', K], ['v', V]] as const) {
      if (sharesMemory(o.out, t.tensor)) throw new RangeError(`options.out must not share memory with ${name}`);
    }
    out = o.out;
  }

  return {
    q: Q,
    k: K,
    v: V,
    dtype,
    pattern,
    scale,
    softcap,
    alibiSlopes: resolveAlibi(o.alibi, Q.heads),
    rope: resolveRope(o.rope, Q.headDim),
    backend,
    returnLse: o.returnLse ?? false,
    out,
    positions,
    returnKeyMass: o.returnKeyMass ?? false,
    select,
  };
}
