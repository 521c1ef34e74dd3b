/**
 * The FlashAttention-2 forward algorithm in TypeScript, in float32 arithmetic, with the tiling,
 * visiting order and online-softmax recurrence of the native kernels, written in the natural-log
 * form of SPEC's formulas: for each (batch, head, tile of blockQ queries) the Q tile is loaded
 * (RoPE applied on load), then every tile of blockK keys is visited in order; its scores
 * S = scale·QKᵀ (then softcap, then ALiBi, then the pattern) update a running max m, a running
 * denominator l and an unnormalised output o (online softmax) with Math.exp; finally out = o / l
 * and lse = m + log l.
 *
 * The native kernels compute the same quantities in base 2: they fold scale·log2(e) into Q as
 * they load it (softcap and the ALiBi slopes are scaled by log2(e) likewise), exponentiate with
 * exp2 (a polynomial on the CPU, exp2f on CUDA) and convert the lse back, and they sum dot
 * products in the order of their SIMD lanes or tensor-core fragments. So they agree with this
 * model to float32 rounding (far inside SPEC's tolerances), not bit for bit. Tiles in which the pattern allows no pair are skipped. Non-finite values
 * propagate as in the kernels (and the oracle): a NaN or +∞ score turns the row's l NaN for good;
 * a −∞ score has probability 0; l = 0 at the end means an empty row. The mask is evaluated
 * element by element with pattern.allows (never the compiled mask, nor classify), so comparing
 * a backend against this also checks the mask compiler.
 *
 * Every value this model holds in float32 is rounded to float32 (Math.fround or Float32Array
 * storage); a product of two float32 values is exact in float64, so
 * fround(acc + a·b) is a fused multiply-add.
 */
import { elementReader } from '../dtypes.js';
import { geometryOf } from './geometry.js';
import { checkProblem } from './oracle.js';
import type { AttentionProblem, AttentionResult } from './problem.js';
import { applyRope, ropeInvFreq } from './rope.js';

export interface TiledOptions {
  /** query rows per tile (default 64) */
  readonly blockQ?: number;
  /** keys per tile (default 64) */
  readonly blockK?: number;
}

const fround = Math.fround;

function blockSize(name: string, x: number | undefined): number {
  if (x === undefined) return 64;
  if (!Number.isInteger(x) || x <= 0) throw new RangeError(`${name} must be a positive integer, got ${x}`);
  return x;
}

/** FlashAttention-2 forward in float32; result in contiguous bhsd order. */
export function attentionTiled(p: AttentionProblem, opts: TiledOptions = {}): AttentionResult<Float32Array> {
  checkProblem(p);
  const blockQ = blockSize('blockQ', opts.blockQ);
  const blockK = blockSize('blockK', opts.blockK);
  const { q, k, v, pattern, alibiSlopes, rope } = p;
  const B = q.batch;
  const Hq = q.heads;
  const Sq = q.seq;
  const D = q.headDim;
  const Hkv = k.heads;
  const Sk = k.seq;
  const Dv = v.headDim;
  const group = Hq / Hkv;
  const geo = geometryOf(p);
  const queryPos = geo.queryPos;
  const keyPos = geo.keyPos;
  const ks = geo.keyStride;
  const scale = fround(p.scale);
  const softcap = fround(p.softcap);
  const [qs0, qs1, qs2, qs3] = q.strides;
  const [ks0, ks1, ks2, ks3] = k.strides;
  const [vs0, vs1, vs2, vs3] = v.strides;

  const rq = elementReader(q.data, q.dtype);
  const rk = elementReader(k.data, k.dtype);
  const rv = elementReader(v.data, v.dtype);
  const invFreq = rope ? ropeInvFreq(rope, D) : null;

  const out = new Float32Array(B * Hq * Sq * Dv);
  const lse = new Float32Array(B * Hq * Sq);

  // Per-tile working storage, allocated once.
  const qT = new Float32Array(blockQ * D);
  const kT = new Float32Array(blockK * D);
  const vT = new Float32Array(blockK * Dv);
  const sT = new Float32Array(blockQ * blockK); // scores, then probabilities
  const mask = new Uint8Array(blockQ * blockK);
  const m = new Float32Array(blockQ);
  const l = new Float32Array(blockQ);
  const o = new Float32Array(blockQ * Dv);

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      const slope = alibiSlopes ? fround(alibiSlopes[h]) : 0;
      for (let q0 = 0; q0 < Sq; q0 += blockQ) {
        const rows = Math.min(blockQ, Sq - q0);
        // Load the Q tile (RoPE on load, at each query's position).
        for (let r = 0; r < rows; r++) {
          const base = q.offset + b * qs0 + h * qs1 + (q0 + r) * qs2;
          for (let d = 0; d < D; d++) qT[r * D + d] = rq(base + d * qs3);
          if (rope && invFreq) applyRope(qT, queryPos[q0 + r], rope, invFreq, r * D);
        }
        m.fill(-Infinity);
        l.fill(0);
        o.fill(0);

        for (let k0 = 0; k0 < Sk; k0 += blockK) {
          const cols = Math.min(blockK, Sk - k0);

          // The tile's mask, straight from the predicate; skip the tile when it allows nothing.
          let any = false;
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < cols; c++) {
              const kp = keyPos === null ? k0 + c : keyPos[hk * ks + k0 + c];
              const a = kp >= 0 && pattern.allows(queryPos[q0 + r], kp, h) && geo.selected(b, hk, q0 + r, k0 + c);
              mask[r * blockK + c] = a ? 1 : 0;
              if (a) any = true;
            }
          }
          if (!any) continue;

          // Load the K tile (RoPE on load) and the V tile.
          for (let c = 0; c < cols; c++) {
            const kb = k.offset + b * ks0 + hk * ks1 + (k0 + c) * ks2;
            for (let d = 0; d < D; d++) kT[c * D + d] = rk(kb + d * ks3);
            const kp = keyPos === null ? k0 + c : keyPos[hk * ks + k0 + c];
            if (rope && invFreq && kp >= 0) applyRope(kT, kp, rope, invFreq, c * D);
            const vb = v.offset + b * vs0 + hk * vs1 + (k0 + c) * vs2;
            for (let d = 0; d < Dv; d++) vT[c * Dv + d] = rv(vb + d * vs3);
          }

          for (let r = 0; r < rows; r++) {
            const pos = queryPos[q0 + r];
            const sRow = r * blockK;
            const qRow = r * D;

            // S = scale·q·k, softcap, ALiBi, mask; and the row's max over this tile (a NaN score
            // makes it NaN: s > NaN is false afterwards).
            let rowMax = -Infinity;
            let any = false;
            for (let c = 0; c < cols; c++) {
              if (!mask[sRow + c]) continue;
              any = true;
              const kRow = c * D;
              let dot = 0;
              for (let d = 0; d < D; d++) dot = fround(dot + qT[qRow + d] * kT[kRow + d]);
              let s = fround(scale * dot);
              if (softcap > 0) s = fround(softcap * fround(Math.tanh(fround(s / softcap))));
              if (alibiSlopes) s = fround(s - slope * Math.abs(pos - (keyPos === null ? k0 + c : keyPos[hk * ks + k0 + c])));
              sT[sRow + c] = s;
              if (s > rowMax || Number.isNaN(s)) rowMax = s;
            }
            // Nothing allowed in this row of the tile: its running state is unchanged.
            if (!any) continue;

            // Online softmax update. m[r] may still be −∞ (no key seen yet): then alpha = 0 and
            // l and o (both 0) stay 0 before the new terms are added. The max subtracted is mNew,
            // or 0 while it is −∞ (only −∞ scores so far: probabilities 0, not exp(−∞ + ∞) = NaN).
            // A NaN anywhere (score, or m from an earlier tile) makes alpha or the probabilities
            // NaN, so l turns NaN and stays NaN.
            const mOld = m[r];
            const mNew = mOld > rowMax ? mOld : rowMax;
            const mSub = mNew === -Infinity ? 0 : mNew;
            const alpha = fround(Math.exp(mOld - mSub));
            let rowSum = 0;
            for (let c = 0; c < cols; c++) {
              if (!mask[sRow + c]) {
                sT[sRow + c] = 0;
                continue;
              }
              const pr = fround(Math.exp(fround(sT[sRow + c] - mSub)));
              sT[sRow + c] = pr;
              rowSum = fround(rowSum + pr);
            }
            m[r] = mNew;
            l[r] = fround(alpha * l[r] + rowSum);

            // o ← alpha·o + P·V
            const oRow = r * Dv;
            for (let d = 0; d < Dv; d++) o[oRow + d] = alpha * o[oRow + d];
            for (let c = 0; c < cols; c++) {
              if (!mask[sRow + c]) continue;
              const pr = sT[sRow + c];
              const vRow = c * Dv;
              for (let d = 0; d < Dv; d++) o[oRow + d] = fround(o[oRow + d] + pr * vT[vRow + d]);
            }
          }
        }

        // Epilogue: out = o / l, lse = m + log l; a row that saw no key (or only −∞ scores) gives 0
        // and −∞; l = NaN gives NaN.
        for (let r = 0; r < rows; r++) {
          const row = (b * Hq + h) * Sq + q0 + r;
          const dst = row * Dv;
          const lr = l[r];
          if (lr === 0) {
            lse[row] = -Infinity;
            out.fill(0, dst, dst + Dv);
            continue;
          }
          const inv = fround(1 / lr);
          for (let d = 0; d < Dv; d++) out[dst + d] = o[r * Dv + d] * inv;
          lse[row] = m[r] + fround(Math.log(lr));
        }
      }
    }
  }
  return { out, lse };
}
