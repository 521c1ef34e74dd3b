/**
 * Linear attention in TypeScript:
 *
 * - linearOracle: the float64 recurrent scan, step by step, exactly as SPEC writes it:
 *     S_t = γ_t·S_{t−1} + φ(k_t)v_tᵀ,  z_t = γ_t·z_{t−1} + φ(k_t),
 *     y_t = φ(q_t)ᵀS_t / (φ(q_t)ᵀz_t + ε)   (y_t = φ(q_t)ᵀS_t with normalize: false)
 *   where γ_t multiplies S_{t−1} row-wise (one γ per feature) for per-feature gates.
 * - linearChunked: the chunked algorithm every fast backend runs, in float32 storage. Inside a
 *   chunk of L steps, with S₀, z₀ the state before it, G_t = γ_0⋯γ_t (prefix products) and
 *   P_{t,s} = γ_{s+1}⋯γ_t (P_{t,t} = 1):
 *     A[t,s] = Σ_f φq_t[f] φk_s[f] P_{t,s}[f]                      (s ≤ t; quadratic in L)
 *     y_t   = (φq_t ⊙ G_t)ᵀS₀ + Σ_{s≤t} A[t,s] v_s
 *     den_t = (φq_t ⊙ G_t)ᵀz₀ + Σ_{s≤t} A[t,s]
 *     S     ← diag(G_{L−1}) S₀ + Σ_s (φk_s ⊙ P_{L−1,s}) v_sᵀ,  z ← G_{L−1} ⊙ z₀ + Σ_s φk_s ⊙ P_{L−1,s}
 *   P is built by products, row by row (P_{t,·} = P_{t−1,·}·γ_t), never by dividing prefix
 *   products, so tiny gates underflow to 0 gracefully instead of overflowing.
 */
import { elementReader, encode16 } from '../dtypes.js';
import { Tensor } from '../tensor.js';
import { applyFeatureMap } from './features.js';
import type { LinearOperand, LinearPlan, ResolvedDecay } from './plan.js';
import { outputShape } from './plan.js';

/** Results in logical order: out [B, Hq, N, Dv], S [B, Hq, Df, Dv], z [B, Hq, Df]. */
export interface LinearResult<T extends Float64Array | Float32Array> {
  out: T;
  S: T;
  z: T;
}

function reader(o: LinearOperand): (b: number, h: number, n: number, d: number) => number {
  const get = elementReader(o.tensor.data, o.tensor.dtype);
  const [s0, s1, s2, s3] = o.strides;
  return (b, h, n, d) => get(b * s0 + h * s1 + n * s2 + d * s3);
}

/** γ for (b, h, n) (feature f for per-feature gates). */
/** The plan with its gates in host memory (a float32 device tensor's are left on the device by the plan). */
function withHostGates(p: LinearPlan): LinearPlan {
  const d = p.decay;
  if ((d.kind !== 'step' && d.kind !== 'stepDim') || d.data !== null) return p;
  return { ...p, decay: { ...d, data: d.tensor.toFloat32() } as ResolvedDecay };
}

function gammaAt(d: ResolvedDecay, b: number, h: number, n: number, f: number): number {
  switch (d.kind) {
    case 'none':
      return 1;
    case 'head':
      return d.gammas[h];
    case 'step':
      return d.data![b * d.strides[0] + h * d.strides[1] + n * d.strides[2]];
    case 'stepDim':
      return d.data![b * d.strides[0] + h * d.strides[1] + n * d.strides[2] + f * d.strides[3]];
  }
}

/** The initial state as float values in logical order (zeros when absent). */
function initialState(p: LinearPlan): { S: Float32Array; z: Float32Array } {
  const sSize = p.batch * p.heads * p.df * p.dv;
  const zSize = p.batch * p.heads * p.df;
  if (!p.initialState) return { S: new Float32Array(sSize), z: new Float32Array(zSize) };
  return { S: p.initialState.S.toFloat32(), z: p.initialState.z.toFloat32() };
}

/** The float64 recurrent oracle (inputs read as stored, every step in float64). */
export function linearOracle(plan: LinearPlan): LinearResult<Float64Array> {
  const p = withHostGates(plan);
  const { batch: B, heads: H, seq: N, dk: Dk, dv: Dv, df: Df } = p;
  const group = H / p.kvHeads;
  const rq = reader(p.q), rk = reader(p.k), rv = reader(p.v);
  const init = initialState(p);
  const out = new Float64Array(B * H * N * Dv);
  const Sall = Float64Array.from(init.S);
  const zall = Float64Array.from(init.z);
  const x = new Float64Array(Dk);
  const fq = new Float64Array(Df), fk = new Float64Array(Df), vr = new Float64Array(Dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      const S = Sall.subarray((b * H + h) * Df * Dv, (b * H + h + 1) * Df * Dv);
      const z = zall.subarray((b * H + h) * Df, (b * H + h + 1) * Df);
      for (let n = 0; n < N; n++) {
        for (let d = 0; d < Dk; d++) x[d] = rq(b, h, n, d);
        applyFeatureMap(p.featureMap, x, Dk, fq);
        for (let d = 0; d < Dk; d++) x[d] = rk(b, kh, n, d);
        applyFeatureMap(p.featureMap, x, Dk, fk);
        for (let d = 0; d < Dv; d++) vr[d] = rv(b, kh, n, d);
        for (let f = 0; f < Df; f++) {
          const g = gammaAt(p.decay, b, h, n, f);
          const row = f * Dv;
          for (let d = 0; d < Dv; d++) S[row + d] = g * S[row + d] + fk[f] * vr[d];
          z[f] = g * z[f] + fk[f];
        }
        let den = 0;
        for (let f = 0; f < Df; f++) den += fq[f] * z[f];
        const o = ((b * H + h) * N + n) * Dv;
        for (let d = 0; d < Dv; d++) {
          let num = 0;
          for (let f = 0; f < Df; f++) num += fq[f] * S[f * Dv + d];
          out[o + d] = p.normalize ? num / (den + p.eps) : num;
        }
      }
    }
  }
  return { out, S: Sall, z: zall };
}

/** Default chunk length of the chunked algorithm (the native CPU backend uses the same). */
export const LINEAR_CHUNK = 64;

/**
 * The chunked algorithm in float32 storage (intermediates are stored in Float32Arrays, so every
 * stored value is rounded to float32; sums run in float64 registers between stores).
 */
export function linearChunked(plan: LinearPlan, chunk = LINEAR_CHUNK): LinearResult<Float32Array> {
  const p = withHostGates(plan);
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer (got ${chunk})`);
  const { batch: B, heads: H, seq: N, dk: Dk, dv: Dv, df: Df } = p;
  const group = H / p.kvHeads;
  const rq = reader(p.q), rk = reader(p.k), rv = reader(p.v);
  const init = initialState(p);
  const out = new Float32Array(B * H * N * Dv);
  const Sall = init.S, zall = init.z;
  const perDim = p.decay.kind === 'stepDim';
  const C = chunk;
  const x = new Float32Array(Dk);
  const qf = new Float32Array(C * Df), kf = new Float32Array(C * Df), vv = new Float32Array(C * Dv);
  const A = new Float32Array(C * C);
  const gam = new Float32Array(perDim ? C * Df : C); // γ per step (per feature)
  const G = new Float32Array(perDim ? C * Df : C); // prefix products
  const drow = new Float32Array(C); // scalar gates: P_{t,·}
  const y = new Float64Array(Dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      const S = Sall.subarray((b * H + h) * Df * Dv, (b * H + h + 1) * Df * Dv);
      const z = zall.subarray((b * H + h) * Df, (b * H + h + 1) * Df);
      for (let n0 = 0; n0 < N; n0 += C) {
        const L = Math.min(C, N - n0);
        // Load the chunk: features of q and k, v, gates and their prefix products.
        for (let t = 0; t < L; t++) {
          const n = n0 + t;
          for (let d = 0; d < Dk; d++) x[d] = rq(b, h, n, d);
          applyFeatureMap(p.featureMap, x, Dk, qf.subarray(t * Df, (t + 1) * Df));
          for (let d = 0; d < Dk; d++) x[d] = rk(b, kh, n, d);
          applyFeatureMap(p.featureMap, x, Dk, kf.subarray(t * Df, (t + 1) * Df));
          for (let d = 0; d < Dv; d++) vv[t * Dv + d] = rv(b, kh, n, d);
          if (perDim) {
            for (let f = 0; f < Df; f++) {
              const g = gammaAt(p.decay, b, h, n, f);
              gam[t * Df + f] = g;
              G[t * Df + f] = t === 0 ? g : G[(t - 1) * Df + f] * g;
            }
          } else {
            const g = gammaAt(p.decay, b, h, n, 0);
            gam[t] = g;
            G[t] = t === 0 ? g : G[t - 1] * g;
          }
        }
        // A (lower triangle). kf becomes φk_s ⊙ P_{L−1,s} (per-feature) as a side effect.
        for (let t = 0; t < L; t++) {
          if (perDim) {
            for (let s = 0; s < t; s++) for (let f = 0; f < Df; f++) kf[s * Df + f] *= gam[t * Df + f];
          } else {
            for (let s = 0; s < t; s++) drow[s] *= gam[t];
            drow[t] = 1;
          }
          for (let s = 0; s <= t; s++) {
            let dot = 0;
            for (let f = 0; f < Df; f++) dot += qf[t * Df + f] * kf[s * Df + f];
            A[t * C + s] = perDim ? dot : dot * drow[s];
          }
        }
        // Outputs: inter-chunk (through S₀, z₀) plus intra-chunk (through A).
        for (let t = 0; t < L; t++) {
          y.fill(0);
          let den = 0;
          for (let f = 0; f < Df; f++) {
            const qg = qf[t * Df + f] * (perDim ? G[t * Df + f] : G[t]);
            den += qg * z[f];
            for (let d = 0; d < Dv; d++) y[d] += qg * S[f * Dv + d];
          }
          for (let s = 0; s <= t; s++) {
            const a = A[t * C + s];
            den += a;
            for (let d = 0; d < Dv; d++) y[d] += a * vv[s * Dv + d];
          }
          const o = ((b * H + h) * N + n0 + t) * Dv;
          for (let d = 0; d < Dv; d++) out[o + d] = p.normalize ? y[d] / (den + p.eps) : y[d];
        }
        // State update.
        for (let f = 0; f < Df; f++) {
          const gl = perDim ? G[(L - 1) * Df + f] : G[L - 1];
          let zf = gl * z[f];
          for (let d = 0; d < Dv; d++) y[d] = gl * S[f * Dv + d];
          for (let s = 0; s < L; s++) {
            const kr = perDim ? kf[s * Df + f] : kf[s * Df + f] * drow[s];
            zf += kr;
            for (let d = 0; d < Dv; d++) y[d] += kr * vv[s * Dv + d];
          }
          z[f] = zf;
          for (let d = 0; d < Dv; d++) S[f * Dv + d] = y[d];
        }
      }
    }
  }
  return { out, S: Sall, z: zall };
}

/** Writes a logical-order float result into a new output tensor of the plan's dtype and layout. */
export function toOutputTensor(p: LinearPlan, values: ArrayLike<number>): Tensor {
  const { batch: B, heads: H, seq: N, dv: Dv } = p;
  const f32 = new Float32Array(B * H * N * Dv);
  const bshd = p.layout === 'bshd';
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let n = 0; n < N; n++) {
        const src = ((b * H + h) * N + n) * Dv;
        const dst = bshd ? ((b * N + n) * H + h) * Dv : src;
        for (let d = 0; d < Dv; d++) f32[dst + d] = values[src + d];
      }
    }
  }
  const shape = outputShape(p);
  if (p.dtype === 'float32') return Tensor.from(f32, shape, { layout: p.layout });
  return Tensor.from(encode16(f32, p.dtype), shape, { dtype: p.dtype, layout: p.layout });
}

/** The state tensors of a result. */
export function stateTensors(p: LinearPlan, S: ArrayLike<number>, z: ArrayLike<number>): { S: Tensor; z: Tensor } {
  return {
    S: Tensor.from(Float32Array.from(S), [p.batch, p.heads, p.df, p.dv]),
    z: Tensor.from(Float32Array.from(z), [p.batch, p.heads, p.df]),
  };
}
