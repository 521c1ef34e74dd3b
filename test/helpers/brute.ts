/**
 * A brute-force float64 attention for tests of explicit positions and key masses, written
 * independently of lib/reference: dense score matrices from the pattern's predicate on given query
 * and key positions, a plain softmax, and per-key probability sums.
 */
import type { Pattern } from '../../lib/patterns/pattern.js';
import { applyRope, ropeInvFreq } from '../../lib/reference/rope.js';
import type { ResolvedRope } from '../../lib/reference/problem.js';
import type { Tensor } from '../../lib/tensor.js';

export interface BruteOptions {
  pattern: Pattern;
  /** position of query row i */
  qpos: (i: number) => number;
  /** position of key j of kv head hk; negative: no key */
  kpos: (hk: number, j: number) => number;
  scale?: number;
  /** one slope per query head */
  alibi?: ArrayLike<number>;
  rope?: ResolvedRope;
}

/** Rows of a 4-D tensor in logical bhsd order, as float64. */
function rows(t: Tensor): { at: (b: number, h: number, s: number) => Float64Array; B: number; H: number; S: number; D: number } {
  const { batch: B, heads: H, seq: S, headDim: D, strides } = t.dims4();
  const f = t.toFloat32();
  return {
    B,
    H,
    S,
    D,
    at: (b, h, s) => Float64Array.from(f.subarray(b * strides[0] + h * strides[1] + s * strides[2], b * strides[0] + h * strides[1] + s * strides[2] + D)),
  };
}

/** out [B, Hq, Sq, D] (bhsd), lse [B, Hq, Sq], keyMass [B, Hkv, Sk]. */
export function bruteAttention(q: Tensor, k: Tensor, v: Tensor, o: BruteOptions): { out: Float64Array; lse: Float64Array; keyMass: Float64Array } {
  const Q = rows(q);
  const K = rows(k);
  const V = rows(v);
  const { B, H: Hq, S: Sq, D } = Q;
  const Hkv = K.H;
  const Sk = K.S;
  const group = Hq / Hkv;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const inv = o.rope ? ropeInvFreq(o.rope, D) : null;
  const out = new Float64Array(B * Hq * Sq * D);
  const lse = new Float64Array(B * Hq * Sq);
  const keyMass = new Float64Array(B * Hkv * Sk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Sq; i++) {
        const p = o.qpos(i);
        const qr = Q.at(b, h, i);
        if (inv) applyRope(qr, p, o.rope!, inv);
        const s = new Float64Array(Sk).fill(-Infinity);
        const ok = new Uint8Array(Sk);
        for (let j = 0; j < Sk; j++) {
          const kp = o.kpos(hk, j);
          if (kp < 0 || !o.pattern.allows(p, kp, h)) continue;
          const kr = K.at(b, hk, j);
          if (inv) applyRope(kr, kp, o.rope!, inv);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qr[d] * kr[d];
          s[j] = scale * dot - (o.alibi ? o.alibi[h] * Math.abs(p - kp) : 0);
          ok[j] = 1;
        }
        const m = Math.max(...s);
        const row = (b * Hq + h) * Sq + i;
        if (m === -Infinity) {
          lse[row] = -Infinity;
          continue;
        }
        let z = 0;
        for (let j = 0; j < Sk; j++) if (ok[j]) z += Math.exp(s[j] - m);
        lse[row] = m + Math.log(z);
        for (let j = 0; j < Sk; j++) {
          if (!ok[j]) continue;
          const w = Math.exp(s[j] - m) / z;
          keyMass[(b * Hkv + hk) * Sk + j] += w;
          const vr = V.at(b, hk, j);
          for (let d = 0; d < D; d++) out[row * D + d] += w * vr[d];
        }
      }
    }
  }
  return { out, lse, keyMass };
}
