/**
 * Feature maps φ of linear attention, shared by the float64 oracle and the chunked float32
 * reference (the native backends implement the same formulas).
 *
 * - identity: φ(x) = x (Df = Dk)
 * - elu1:     φ(x) = elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise (Df = Dk; Katharopoulos et al.)
 * - relu:     φ(x) = max(x, 0) (Df = Dk)
 * - favor:    positive random features (Performer, FAVOR+): with x' = x·Dk^(−1/4),
 *             φ(x) = exp(W x' − |x'|²/2) / √m, W an m × Dk matrix of independent N(0, 1) draws
 *             from Rng(seed) (row-major, stored as float32 so every backend uses the same W).
 *             E[φ(q)·φ(k)] = exp(q·k/√Dk), the softmax kernel. No max-stabiliser is subtracted
 *             (it would not cancel with normalize: false); W is iid, not orthogonalised.
 */
import { Rng } from '../rng.js';

export type FeatureMapName = 'identity' | 'elu1' | 'relu';

/** The resolved feature map of a plan. */
export type ResolvedFeatureMap =
  | { kind: FeatureMapName }
  | { kind: 'favor'; features: number; seed: number; /** [features][Dk] row-major */ weights: Float32Array };

const weightCache = new Map<string, Float32Array>();

/** The FAVOR+ projection [features][dk], drawn from Rng(seed) row by row (cached, never mutated). */
export function favorWeights(features: number, dk: number, seed: number): Float32Array {
  const key = `${features}:${dk}:${seed}`;
  let w = weightCache.get(key);
  if (!w) {
    const rng = new Rng(seed);
    w = new Float32Array(features * dk);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal();
    if (weightCache.size > 64) weightCache.clear();
    weightCache.set(key, w);
  }
  return w;
}

/** Df: the number of features φ produces from a Dk-vector. */
export function featureDim(fm: ResolvedFeatureMap, dk: number): number {
  return fm.kind === 'favor' ? fm.features : dk;
}

/**
 * Writes φ(x) into out[0 .. Df). `x` is one Dk-vector; arithmetic in float64 (the caller's
 * storage decides the rounding: a Float32Array out gives the float32 reference).
 */
export function applyFeatureMap(fm: ResolvedFeatureMap, x: ArrayLike<number>, dk: number, out: Float64Array | Float32Array): void {
  switch (fm.kind) {
    case 'identity':
      for (let i = 0; i < dk; i++) out[i] = x[i];
      return;
    case 'elu1':
      for (let i = 0; i < dk; i++) out[i] = x[i] > 0 ? x[i] + 1 : Math.exp(x[i]);
      return;
    case 'relu':
      for (let i = 0; i < dk; i++) out[i] = x[i] > 0 ? x[i] : 0;
      return;
    case 'favor': {
      const c = dk ** -0.25;
      let sq = 0;
      for (let i = 0; i < dk; i++) sq += x[i] * x[i];
      const half = (c * c * sq) / 2;
      const norm = 1 / Math.sqrt(fm.features);
      const w = fm.weights;
      for (let f = 0; f < fm.features; f++) {
        let dot = 0;
        const row = f * dk;
        for (let i = 0; i < dk; i++) dot += w[row + i] * x[i];
        out[f] = Math.exp(c * dot - half) * norm;
      }
      return;
    }
  }
}
