/**
 * The options of `new KVCache(...)`, checked once and resolved (every error names the option and
 * what was expected).
 */
import { describeValue } from '../describe.js';
import { DTYPES, type DType } from '../dtypes.js';
import { parseDevice } from '../storage.js';

export type PolicyName = 'window' | 'streaming' | 'h2o' | 'adaptive';

/** A policy as an object, with its own parameters (they override the top-level sinks / recent). */
export type PolicyObject =
  | { type: 'window' }
  | { type: 'streaming'; sinks?: number }
  | { type: 'h2o'; sinks?: number; recent?: number }
  | { type: 'adaptive'; sinks?: number; recent?: number; maxPerHead?: number };

export interface KVCacheOptions {
  batch: number;
  kvHeads: number;
  headDim: number;
  /** default 'float32' */
  dtype?: DType;
  /**
   * Where the keys and values live: 'cpu' (host memory, the CPU, wasm or reference backend; default) or 'cuda' /
   * 'cuda:N' (device memory, the CUDA backend: q, k and v given on that device stay there; host
   * ones are copied there once per call and the results come back as host tensors).
   */
  device?: string;
  /**
   * Keys kept per kv head: a number, or one number per kv head. With the 'adaptive' policy, the
   * total over all kv heads, which the cache splits between them.
   */
  budget: number | readonly number[] | Int32Array;
  /**
   * 'window': the `budget` most recent keys. 'streaming': the first `sinks` positions plus the most
   * recent (StreamingLLM). 'h2o': sinks, the `recent` most recent, and the rest by accumulated
   * attention mass (heavy hitters, H2O). 'adaptive': h2o within each head, with the total budget
   * split between heads by where the accumulated attention mass is (see README).
   */
  policy: PolicyName | PolicyObject;
  /** attention-sink positions always kept by 'streaming', 'h2o' and 'adaptive' (default 4) */
  sinks?: number;
  /** most recent keys always kept by 'h2o' and 'adaptive' (default: half of what the sinks leave) */
  recent?: number;
  /**
   * Room reserved for the keys of one call (a prefill chunk) on top of the budget (default 64).
   * A call that brings more keys grows the storage once (a copy), never per token.
   */
  maxChunk?: number;
  /** keys per block of the per-block key bounds that option `select` ranks (default 64) */
  blockSize?: number;
}

export interface CacheConfig {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: DType;
  /** 'cpu' or 'cuda:N' */
  readonly device: string;
  readonly policy: PolicyName;
  /** per kv head (for 'adaptive': the starting split of the total) */
  readonly budgets: Int32Array;
  /** 'adaptive' only: the total over all kv heads */
  readonly total: number;
  readonly sinks: number;
  readonly recent: number;
  /** 'adaptive' only: the most keys one head may keep */
  readonly maxPerHead: number;
  readonly maxChunk: number;
  readonly blockSize: number;
}

const POLICIES: readonly PolicyName[] = ['window', 'streaming', 'h2o', 'adaptive'];
/** a kv head keeps at most this many keys (positions and slots are int32 in the kernels) */
const MAX_KEYS = 2 ** 30;

function integer(name: string, x: unknown, min: number, max = MAX_KEYS): number {
  if (typeof x !== 'number' || !Number.isInteger(x)) throw new TypeError(`${name} must be an integer (got ${describeValue(x)})`);
  if (x < min || x > max) throw new RangeError(`${name} must be in [${min}, ${max}] (got ${x})`);
  return x;
}

const OPTION_KEYS = ['batch', 'kvHeads', 'headDim', 'dtype', 'device', 'budget', 'policy', 'sinks', 'recent', 'maxChunk', 'blockSize'];

export function resolveCacheOptions(options: unknown): CacheConfig {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`KVCache options must be an object { batch, kvHeads, headDim, budget, policy, … } (got ${describeValue(options)})`);
  }
  const o = options as KVCacheOptions;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) throw new TypeError(`options.${key} is not a KVCache option (expected one of ${OPTION_KEYS.join(', ')})`);
  }
  const batch = integer('options.batch', o.batch, 1, 65536);
  const kvHeads = integer('options.kvHeads', o.kvHeads, 1, 65536);
  const headDim = integer('options.headDim', o.headDim, 1, 65536);
  const dtype = o.dtype ?? 'float32';
  if (!DTYPES.includes(dtype)) throw new RangeError(`options.dtype must be one of ${DTYPES.join(', ')} (got ${describeValue(dtype)})`);
  let device: string;
  try {
    device = parseDevice(o.device ?? 'cpu');
  } catch (e) {
    const E = e instanceof TypeError ? TypeError : RangeError;
    throw new E(`options.device must be 'cpu', 'cuda' or 'cuda:N' (got ${describeValue(o.device)})`);
  }

  let policy: PolicyName;
  let own: { sinks?: unknown; recent?: unknown; maxPerHead?: unknown } = {};
  if (typeof o.policy === 'string') {
    if (!POLICIES.includes(o.policy)) throw new RangeError(`options.policy must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')} or an object { type, … } (got ${JSON.stringify(o.policy)})`);
    policy = o.policy;
  } else if (o.policy !== null && typeof o.policy === 'object' && !Array.isArray(o.policy)) {
    const p = o.policy as { type?: unknown };
    if (typeof p.type !== 'string' || !POLICIES.includes(p.type as PolicyName)) {
      throw new RangeError(`options.policy.type must be one of ${POLICIES.map((x) => `'${x}'`).join(', ')} (got ${describeValue(p.type)})`);
    }
    policy = p.type as PolicyName;
    const allowed = { window: [], streaming: ['sinks'], h2o: ['sinks', 'recent'], adaptive: ['sinks', 'recent', 'maxPerHead'] }[policy];
    for (const key of Object.keys(p)) {
      if (key !== 'type' && !(allowed as string[]).includes(key)) throw new TypeError(`options.policy.${key} is not a parameter of the '${policy}' policy`);
    }
    own = p as typeof own;
    for (const key of ['sinks', 'recent'] as const) {
      if (own[key] !== undefined && o[key] !== undefined) throw new RangeError(`options.${key} and options.policy.${key} are both given; give one`);
    }
  } else {
    throw new TypeError(`options.policy must be a policy name or an object { type, … } (got ${describeValue(o.policy)})`);
  }
  if (policy === 'window' && o.sinks !== undefined) throw new RangeError("options.sinks does not apply to the 'window' policy (use 'streaming')");
  if ((policy === 'window' || policy === 'streaming') && o.recent !== undefined) throw new RangeError(`options.recent does not apply to the '${policy}' policy`);

  const budgets = new Int32Array(kvHeads);
  let total = 0;
  if (policy === 'adaptive') {
    total = integer('options.budget', o.budget, kvHeads);
    for (let h = 0; h < kvHeads; h++) budgets[h] = Math.floor(total / kvHeads) + (h < total % kvHeads ? 1 : 0);
  } else if (typeof o.budget === 'number') {
    budgets.fill(integer('options.budget', o.budget, 1));
  } else if (Array.isArray(o.budget) || o.budget instanceof Int32Array) {
    const list = o.budget as ArrayLike<unknown>;
    if (list.length !== kvHeads) throw new RangeError(`options.budget must hold one number per kv head (${kvHeads}); got ${list.length}`);
    for (let h = 0; h < kvHeads; h++) budgets[h] = integer(`options.budget[${h}]`, list[h], 1);
  } else {
    throw new TypeError(`options.budget must be an integer or an array of one integer per kv head (got ${describeValue(o.budget)})`);
  }
  let smallest = Infinity;
  for (const b of budgets) smallest = Math.min(smallest, b);

  const sinks = policy === 'window' ? 0 : integer(own.sinks !== undefined ? 'options.policy.sinks' : 'options.sinks', own.sinks ?? o.sinks ?? Math.min(4, smallest - 1), 0);
  if (policy !== 'window' && sinks >= smallest) throw new RangeError(`options.sinks (${sinks}) must be smaller than the budget of every kv head (smallest ${smallest})`);
  let recent = 0;
  if (policy === 'h2o' || policy === 'adaptive') {
    const name = own.recent !== undefined ? 'options.policy.recent' : 'options.recent';
    recent = integer(name, own.recent ?? o.recent ?? Math.max(1, Math.floor((smallest - sinks) / 2)), 0);
    if (sinks + recent > smallest) throw new RangeError(`sinks + recent (${sinks} + ${recent}) must be at most the budget of every kv head (smallest ${smallest})`);
  }
  let maxPerHead = 0;
  if (policy === 'adaptive') {
    const mean = Math.ceil(total / kvHeads);
    maxPerHead = integer('options.policy.maxPerHead', own.maxPerHead ?? Math.min(total, 2 * mean), mean);
  }
  const maxChunk = integer('options.maxChunk', o.maxChunk ?? 64, 1);
  const blockSize = integer('options.blockSize', o.blockSize ?? 64, 1, 4096);
  return { batch, kvHeads, headDim, dtype, device, policy, budgets, total, sinks, recent, maxPerHead, maxChunk, blockSize };
}
