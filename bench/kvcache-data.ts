/**
 * Decoding data with planted structure, for measuring KV-cache policies honestly: random Gaussian
 * q and k give near-uniform attention, where every policy looks alike. Here each kv head mixes
 * three kinds of structure, in proportions that differ between heads:
 *
 *  - heavy hitters: a few positions, always including position 0, whose keys point along a
 *    direction every query shares (attention sinks and frequent tokens: what h2o keeps);
 *  - locality: keys and queries carry a slowly drifting direction w(t), so a query prefers keys
 *    near its own position (what a window keeps);
 *  - relevant blocks: a few runs of 64 keys about a topic that the queries ask about (retrieval:
 *    what query-aware selection finds, wherever the blocks lie).
 *
 * Scores are O(√D · mixture weights), so attention is peaked but never one-hot.
 */
import { Rng } from '../lib/rng.js';
import { Tensor } from '../lib/index.js';

export interface PlantedOptions {
  /** positions */
  n: number;
  kvHeads: number;
  /** query heads per kv head */
  group: number;
  headDim: number;
  seed: number;
  /** heavy-hitter positions per kv head (default 8) */
  heavy?: number;
  /** relevant 64-key blocks per kv head (default 3) */
  blocks?: number;
}

export interface PlantedData {
  /** [1, kvHeads·group, n, D] */
  q: Tensor;
  /** [1, kvHeads, n, D] */
  k: Tensor;
  v: Tensor;
}

function unit(rng: Rng, D: number): Float64Array {
  const x = Float64Array.from({ length: D }, () => rng.normal());
  const n = Math.hypot(...x);
  for (let d = 0; d < D; d++) x[d] /= n;
  return x;
}

export function plantedSequence(o: PlantedOptions): PlantedData {
  const { n: N, kvHeads: Hkv, group, headDim: D } = o;
  const rng = new Rng(o.seed);
  const Hq = Hkv * group;
  const root = Math.sqrt(D);
  const q = new Float32Array(Hq * N * D);
  const k = new Float32Array(Hkv * N * D);
  const v = new Float32Array(Hkv * N * D);
  for (let h = 0; h < Hkv; h++) {
    // per-head mixture: (heavy, local, topic) weights rotate over the heads
    const mix = [
      [1.0, 0.45, 0.5],
      [0.45, 1.0, 0.4],
      [0.5, 0.4, 1.0],
    ][h % 3];
    const u = unit(rng, D);
    const topic = unit(rng, D);
    // position 0 is always one: the attention sink of trained models
    const heavy = new Set([0, ...Array.from({ length: (o.heavy ?? 8) - 1 }, () => rng.int(N))]);
    const relevant = new Set(Array.from({ length: o.blocks ?? 3 }, () => rng.int(Math.max(1, Math.floor(N / 64)))));
    let w = unit(rng, D);
    for (let t = 0; t < N; t++) {
      // the drifting local direction
      const step = unit(rng, D);
      for (let d = 0; d < D; d++) w[d] = w[d] + 0.2 * step[d];
      w = (() => {
        const s = Math.hypot(...w);
        return w.map((x) => x / s);
      })();
      const isHeavy = heavy.has(t);
      const isRelevant = relevant.has(Math.floor(t / 64));
      for (let d = 0; d < D; d++) {
        const noise = 0.35 * rng.normal();
        k[(h * N + t) * D + d] =
          root * (noise / Math.sqrt(D) + (isHeavy ? 0.9 * mix[0] * u[d] : 0) + 0.75 * mix[1] * w[d] + (isRelevant ? 0.85 * mix[2] * topic[d] : 0));
        v[(h * N + t) * D + d] = rng.normal();
      }
      for (let g = 0; g < group; g++) {
        const hq = h * group + g;
        for (let d = 0; d < D; d++) {
          q[(hq * N + t) * D + d] = 1.6 * root * (0.3 * rng.normal() / Math.sqrt(D) + 0.6 * mix[0] * u[d] + 0.75 * mix[1] * w[d] + 0.6 * mix[2] * topic[d]);
        }
      }
    }
  }
  return {
    q: Tensor.from(q, [1, Hq, N, D]),
    k: Tensor.from(k, [1, Hkv, N, D]),
    v: Tensor.from(v, [1, Hkv, N, D]),
  };
}

/** Rows [s0, s1) of a [1, H, S, D] float32 tensor, as a new tensor. */
export function rows(t: Tensor, s0: number, s1: number): Tensor {
  const [, H, S, D] = t.shape;
  const out = Tensor.zeros([1, H, s1 - s0, D]);
  const src = t.data as Float32Array;
  for (let h = 0; h < H; h++) (out.data as Float32Array).set(src.subarray((h * S + s0) * D, (h * S + s1) * D), h * (s1 - s0) * D);
  return out;
}
