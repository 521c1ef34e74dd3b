/**
 * Checks every argument of linearAttention() once, before any backend runs, and resolves the
 * options into a LinearPlan. Every error names the argument and says what was expected; nothing
 * the caller passed is modified (16-bit gates are decoded into a copy, per-head decays copied).
 */
import { describeValue } from '../describe.js';
import type { DType } from '../dtypes.js';
import { Tensor } from '../tensor.js';
import { checkGroupsAndDevice, checkOperands, type BackendName, type Layout, type Operand } from '../attention/plan.js';
import { favorWeights, featureDim, type FeatureMapName, type ResolvedFeatureMap } from './features.js';

/** The recurrent state: S = Σ decayed φ(k)vᵀ, z = Σ decayed φ(k); float32, one per query head. */
export interface LinearState {
  /** float32 [batch, queryHeads, Df, Dv] */
  S: Tensor;
  /** float32 [batch, queryHeads, Df] */
  z: Tensor;
}

export type FeatureMapOption = FeatureMapName | { favor: number; seed?: number };

export interface LinearAttentionOptions {
  /** φ: 'elu1' (default), 'identity', 'relu', or { favor: features, seed = 0 } (positive random features) */
  featureMap?: FeatureMapOption;
  /**
   * γ in (0, 1]: absent (1), a number (every head), a Float32Array with one value per query head
   * (RetNet), or a Tensor of per-step gates [B, H, N] or per-feature gates [B, H, N, Df]
   * ([B, N, H] / [B, N, H, Df] with layout 'bshd'); H = query heads, Df = Dk (or the favor count).
   */
  decay?: number | Float32Array | Tensor;
  /** divide by φ(q)ᵀz + eps (default true); false gives y = φ(q)ᵀS */
  normalize?: boolean;
  /** added to the denominator; finite, ≥ 0 (default 1e-6) */
  eps?: number;
  /** the state to continue from (default zeros); read, never modified */
  initialState?: LinearState;
  /** also return the final state: { out, state } */
  returnState?: boolean;
  /** how q, k and v are laid out; default: each tensor's own layout */
  layout?: Layout;
  backend?: BackendName;
}

/** One operand's logical [batch, heads, seq, headDim] geometry. */
export type LinearOperand = Operand;

export type ResolvedDecay =
  | { kind: 'none' }
  /** one γ per query head */
  | { kind: 'head'; gammas: Float32Array }
  /**
   * per-step gate of (b, h, n) at data[b*s0 + h*s1 + n*s2]; data is null for a float32 device
   * tensor (read in place and checked on the device)
   */
  | { kind: 'step'; tensor: Tensor; data: Float32Array | null; strides: [number, number, number] }
  /** per-feature gate of (b, h, n, f) at data[b*s0 + h*s1 + n*s2 + f*s3] (data: as for 'step') */
  | { kind: 'stepDim'; tensor: Tensor; data: Float32Array | null; strides: [number, number, number, number] };

export interface LinearPlan {
  readonly q: LinearOperand;
  readonly k: LinearOperand;
  readonly v: LinearOperand;
  readonly dtype: DType;
  readonly layout: Layout;
  readonly batch: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly seq: number;
  readonly dk: number;
  readonly dv: number;
  /** features per head: Dk, or the favor count */
  readonly df: number;
  readonly featureMap: ResolvedFeatureMap;
  readonly decay: ResolvedDecay;
  readonly normalize: boolean;
  readonly eps: number;
  readonly initialState: LinearState | null;
  readonly returnState: boolean;
  readonly backend: BackendName;
  readonly device: string;
}

const OPTION_KEYS = new Set(['featureMap', 'decay', 'normalize', 'eps', 'initialState', 'returnState', 'layout', 'backend']);
const BACKENDS: readonly BackendName[] = ['auto', 'cuda', 'cpu', 'reference'];
const FEATURE_MAPS: readonly FeatureMapName[] = ['identity', 'elu1', 'relu'];

function resolveFeatureMap(fm: unknown, dk: number): ResolvedFeatureMap {
  if (fm === undefined) return { kind: 'elu1' };
  if (typeof fm === 'string') {
    if ((FEATURE_MAPS as readonly string[]).includes(fm)) return { kind: fm as FeatureMapName };
    throw new RangeError(`options.featureMap must be 'identity', 'elu1', 'relu' or { favor: features, seed } (got ${describeValue(fm)})`);
  }
  if (fm === null || typeof fm !== 'object' || Array.isArray(fm)) {
    throw new TypeError(`options.featureMap must be 'identity', 'elu1', 'relu' or { favor: features, seed } (got ${describeValue(fm)})`);
  }
  for (const key of Object.keys(fm)) {
    if (key !== 'favor' && key !== 'seed') throw new TypeError(`options.featureMap.${key} is not an option (expected { favor: features, seed })`);
  }
  const o = fm as { favor?: unknown; seed?: unknown };
  if (o.favor === undefined) throw new TypeError('options.featureMap as an object must be { favor: features, seed } (favor is missing)');
  if (typeof o.favor !== 'number' || !Number.isInteger(o.favor)) {
    throw new TypeError(`options.featureMap.favor (the number of random features) must be a positive integer (got ${describeValue(o.favor)})`);
  }
  if (o.favor < 1 || o.favor > 65536) throw new RangeError(`options.featureMap.favor (the number of random features) must be in [1, 65536] (got ${o.favor})`);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new TypeError(`options.featureMap.seed must be an integer (got ${describeValue(seed)})`);
  return { kind: 'favor', features: o.favor, seed, weights: favorWeights(o.favor, dk, seed) };
}

function checkGamma(name: string, g: number): void {
  if (!(g > 0 && g <= 1)) throw new RangeError(`${name} must be in (0, 1] (got ${g})`);
}

function resolveDecay(d: unknown, layout: Layout, B: number, H: number, N: number, df: number, dfWhat: string, device: string): ResolvedDecay {
  if (d === undefined) return { kind: 'none' };
  if (typeof d === 'number') {
    checkGamma('options.decay', d);
    return d === 1 ? { kind: 'none' } : { kind: 'head', gammas: new Float32Array(H).fill(d) };
  }
  if (d instanceof Float32Array) {
    if (d.length !== H) throw new RangeError(`options.decay as a Float32Array must hold one value per query head: expected ${H}, got ${d.length}`);
    for (let i = 0; i < d.length; i++) checkGamma(`options.decay[${i}]`, d[i]);
    return { kind: 'head', gammas: Float32Array.from(d) };
  }
  if (!(d instanceof Tensor)) {
    throw new TypeError(`options.decay must be a number, a Float32Array of per-head values or a Tensor of gates (got ${describeValue(d)})`);
  }
  if (d.disposed) throw new Error('options.decay was disposed');
  if (d.device !== device) throw new RangeError(`options.decay is on ${d.device} but q is on ${device}`);
  const bshd = layout === 'bshd';
  const want3 = bshd ? [B, N, H] : [B, H, N];
  const names3 = bshd ? 'B, N, H' : 'B, H, N';
  const shape = d.shape;
  const matches = (want: number[]) => shape.length === want.length && want.every((x, i) => shape[i] === x);
  let kind: 'step' | 'stepDim';
  if (matches(want3)) kind = 'step';
  else if (matches([...want3, df])) kind = 'stepDim';
  else {
    throw new RangeError(
      `options.decay as a Tensor must be per-step gates [${names3}] = [${want3.join(', ')}] or per-feature gates [${names3}, Df] = [${[...want3, df].join(', ')}] ` +
        `(H = query heads, Df = ${dfWhat}); got shape [${shape.join(', ')}]`,
    );
  }
  // Read only: a float32 host tensor is used in place, a float32 device tensor too (the CUDA
  // backend checks its values on the device), other dtypes are decoded into a host copy.
  const data = d.dtype !== 'float32' ? d.toFloat32() : d.device === 'cpu' ? (d.data as Float32Array) : null;
  for (let i = 0; data !== null && i < data.length; i++) {
    const g = data[i];
    if (!(g > 0 && g <= 1)) {
      const idx: number[] = [];
      let r = i;
      for (let a = shape.length - 1; a >= 0; a--) {
        idx.unshift(r % shape[a]);
        r = Math.floor(r / shape[a]);
      }
      throw new RangeError(`options.decay gates must be in (0, 1]; element [${idx.join(', ')}] is ${g}`);
    }
  }
  // Logical (b, h, n, f) strides of the storage.
  if (kind === 'step') {
    const strides: [number, number, number] = bshd ? [N * H, 1, H] : [H * N, N, 1];
    return { kind, tensor: d, data, strides };
  }
  const strides: [number, number, number, number] = bshd ? [N * H * df, df, H * df, 1] : [H * N * df, N * df, df, 1];
  return { kind, tensor: d, data, strides };
}

function resolveState(s: unknown, B: number, H: number, df: number, dv: number, device: string): LinearState | null {
  if (s === undefined || s === null) return null;
  if (typeof s !== 'object' || Array.isArray(s)) throw new TypeError(`options.initialState must be { S, z } (got ${describeValue(s)})`);
  for (const key of Object.keys(s)) {
    if (key !== 'S' && key !== 'z') throw new TypeError(`options.initialState.${key} is not a field (expected { S, z })`);
  }
  const o = s as { S?: unknown; z?: unknown };
  const check = (name: 'S' | 'z', t: unknown, want: number[], dims: string): Tensor => {
    if (!(t instanceof Tensor)) throw new TypeError(`options.initialState.${name} must be a float32 Tensor ${dims} (got ${describeValue(t)})`);
    if (t.disposed) throw new Error(`options.initialState.${name} was disposed`);
    if (t.dtype !== 'float32') throw new TypeError(`options.initialState.${name} must be float32 (got ${t.dtype})`);
    if (t.shape.length !== want.length || want.some((x, i) => t.shape[i] !== x)) {
      throw new RangeError(`options.initialState.${name} must have shape ${dims} = [${want.join(', ')}] (got [${t.shape.join(', ')}])`);
    }
    if (t.device !== device) throw new RangeError(`options.initialState.${name} is on ${t.device} but q is on ${device}`);
    return t;
  };
  return {
    S: check('S', o.S, [B, H, df, dv], '[batch, queryHeads, Df, Dv]'),
    z: check('z', o.z, [B, H, df], '[batch, queryHeads, Df]'),
  };
}

/** Validates q, k, v and options; returns the resolved plan. Never modifies its arguments. */
export function planLinearAttention(q: unknown, k: unknown, v: unknown, options: unknown): LinearPlan {
  const { o, Q, K, V, dtype } = checkOperands<LinearAttentionOptions>(q, k, v, options, OPTION_KEYS, false);
  for (const [name, t] of [['k', K], ['v', V]] as const) {
    if (t.batch !== Q.batch) throw new RangeError(`${name} has batch ${t.batch} but q has ${Q.batch}`);
    if (t.seq !== Q.seq) throw new RangeError(`${name} has seq ${t.seq} but q has ${Q.seq}: linear attention is causal self-attention over one sequence`);
  }
  if (K.headDim !== Q.headDim) throw new RangeError(`k has headDim ${K.headDim} but q has ${Q.headDim}`);
  if (Q.headDim < 1) throw new RangeError('q has headDim 0; headDim must be ≥ 1');
  if (V.headDim < 1) throw new RangeError('v has headDim 0; headDim must be ≥ 1');
  if (V.heads !== K.heads) throw new RangeError(`v has ${V.heads} heads but k has ${K.heads}`);
  const device = checkGroupsAndDevice(Q, K, V);

  const featureMap = resolveFeatureMap(o.featureMap, Q.headDim);
  const df = featureDim(featureMap, Q.headDim);
  const dfWhat = featureMap.kind === 'favor' ? `the favor feature count ${df}` : `headDim ${df}`;
  const decay = resolveDecay(o.decay, Q.layout, Q.batch, Q.heads, Q.seq, df, dfWhat, device);

  if (o.normalize !== undefined && typeof o.normalize !== 'boolean') throw new TypeError(`options.normalize must be a boolean (got ${describeValue(o.normalize)})`);
  const eps = o.eps ?? 1e-6;
  if (typeof eps !== 'number') throw new TypeError(`options.eps must be a number (got ${describeValue(eps)})`);
  if (!Number.isFinite(eps) || eps < 0) throw new RangeError(`options.eps must be finite and ≥ 0 (got ${eps})`);
  if (o.returnState !== undefined && typeof o.returnState !== 'boolean') throw new TypeError(`options.returnState must be a boolean (got ${describeValue(o.returnState)})`);
  const backend = o.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) throw new RangeError(`options.backend must be one of ${BACKENDS.map((b) => `'${b}'`).join(', ')} (got ${describeValue(backend)})`);

  return {
    q: Q,
    k: K,
    v: V,
    dtype,
    layout: Q.layout,
    batch: Q.batch,
    heads: Q.heads,
    kvHeads: K.heads,
    seq: Q.seq,
    dk: Q.headDim,
    dv: V.headDim,
    df,
    featureMap,
    decay,
    normalize: o.normalize ?? true,
    eps,
    initialState: resolveState(o.initialState, Q.batch, Q.heads, df, V.headDim, device),
    returnState: o.returnState ?? false,
    backend,
    device,
  };
}

/** The output shape (q's, with v's headDim last) in the plan's layout. */
export function outputShape(p: LinearPlan): number[] {
  return p.layout === 'bhsd' ? [p.batch, p.heads, p.seq, p.dv] : [p.batch, p.seq, p.heads, p.dv];
}
