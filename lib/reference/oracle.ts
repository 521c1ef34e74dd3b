/**
 * The float64 oracle: naive attention straight from the definition, one (batch, head, query)
 * row at a time, evaluating the pattern's predicate for every (query, key) pair. Slow and
 * simple on purpose; every other backend is measured against it.
 */
import { elementReader } from '../dtypes.js';
import { checkGeometry, geometryOf } from './geometry.js';
import type { AttentionProblem, AttentionResult, OperandView } from './problem.js';
import { applyRope, checkRope, ropeInvFreq } from './rope.js';

function checkView(name: string, v: OperandView): void {
  for (const [k, x] of [['batch', v.batch], ['heads', v.heads], ['seq', v.seq], ['headDim', v.headDim]] as const) {
    if (!Number.isInteger(x) || x < 0) throw new RangeError(`${name}.${k} must be a non-negative integer, got ${x}`);
  }
  if (v.heads === 0 || v.headDim === 0) throw new RangeError(`${name} must have at least one head and headDim ≥ 1`);
  if (v.strides.length !== 4 || !v.strides.every(Number.isInteger) || !Number.isInteger(v.offset)) {
    throw new RangeError(`${name}: strides and offset must be integers`);
  }
  const expected = v.dtype === 'float32' ? Float32Array : Uint16Array;
  if (!(v.data instanceof expected)) throw new TypeError(`${name}: ${v.dtype} data must be a ${expected.name}`);
  if (v.batch === 0 || v.seq === 0) return;
  const dims = [v.batch, v.heads, v.seq, v.headDim];
  let lo = v.offset;
  let hi = v.offset;
  for (let a = 0; a < 4; a++) {
    const span = (dims[a] - 1) * v.strides[a];
    if (span < 0) lo += span;
    else hi += span;
  }
  if (lo < 0 || hi >= v.data.length) {
    throw new RangeError(`${name}: view reaches elements [${lo}, ${hi}] outside its data of length ${v.data.length}`);
  }
}

/** Checks that a problem's operands agree and stay inside their data; throws otherwise. */
export function checkProblem(p: AttentionProblem): void {
  const { q, k, v } = p;
  checkView('q', q);
  checkView('k', k);
  checkView('v', v);
  if (k.batch !== q.batch || v.batch !== q.batch) throw new RangeError('q, k and v must have the same batch size');
  if (k.heads !== v.heads) throw new RangeError('k and v must have the same number of heads');
  if (q.heads % k.heads !== 0) throw new RangeError(`query heads (${q.heads}) must be a multiple of kv heads (${k.heads})`);
  if (k.seq !== v.seq) throw new RangeError('k and v must have the same sequence length');
  if (k.headDim !== q.headDim) throw new RangeError('q and k must have the same head dimension');
  if (!Number.isFinite(p.scale)) throw new RangeError(`scale must be finite, got ${p.scale}`);
  if (!(p.softcap >= 0) || !Number.isFinite(p.softcap)) throw new RangeError(`softcap must be ≥ 0 and finite, got ${p.softcap}`);
  if (p.alibiSlopes !== null && p.alibiSlopes.length !== q.heads) {
    throw new RangeError(`alibiSlopes must have one slope per query head (${q.heads}), got ${p.alibiSlopes.length}`);
  }
  if (p.rope !== null) checkRope(p.rope, q.headDim);
  checkGeometry(p);
}

export interface OracleOptions {
  /** also return each key's attention mass (see attentionOracle) */
  readonly keyMass?: boolean;
}

/** The oracle's result; keyMass [B, Hkv, Sk] when asked for. */
export interface OracleResult extends AttentionResult<Float64Array> {
  readonly keyMass?: Float64Array;
}

/**
 * Attention in float64, from the definition: for each (b, h, i), scores against every key j of
 * kv head ⌊h/(Hq/Hkv)⌋ that the pattern allows at (pos(i), pos(j), h) — by default
 * pos(i) = i + Sk − Sq and pos(j) = j; see AttentionProblem.positions — and, with a selection,
 * that lies in a selected key block; s = scale·q·k (RoPE at the true positions), then softcap, then
 * ALiBi on |pos(i) − pos(j)|; a max-subtracted softmax; out = Σ p·v, lse = max + log Σ. A row with
 * no allowed key gives out 0 and lse −Infinity. Output in contiguous bhsd order. With
 * `keyMass`, also keyMass[b, hk, j] = Σ over the rows i of the heads h of kv head hk of the
 * softmax probability of key j (0 for keys no row attends; NaN rows add NaN).
 *
 * Non-finite values follow IEEE arithmetic on that formula over the allowed keys only (keys the
 * pattern does not allow are never read): a NaN score makes the max NaN, so the row's out and lse
 * are NaN; a +Infinity score gives exp(∞ − ∞) = NaN, likewise; a −Infinity score has weight 0
 * (and 0·v is still NaN for a NaN/infinite v). A row whose allowed scores are all −Infinity has
 * Σ exp(s) = 0: it is reported like an empty row (out 0, lse −Infinity = log 0), which keeps
 * splitting the keys and merging the parts (mergeAttention) exact.
 */
export function attentionOracle(p: AttentionProblem, options: OracleOptions = {}): OracleResult {
  checkProblem(p);
  const { q, k, v, pattern, scale, softcap, alibiSlopes, rope } = p;
  const B = q.batch;
  const Hq = q.heads;
  const Sq = q.seq;
  const D = q.headDim;
  const Hkv = k.heads;
  const Sk = k.seq;
  const Dv = v.headDim;
  const group = Hq / Hkv;
  const geo = geometryOf(p);
  const keyPos = geo.keyPos;
  const ks = geo.keyStride;

  const rq = elementReader(q.data, q.dtype);
  const rk = elementReader(k.data, k.dtype);
  const rv = elementReader(v.data, v.dtype);
  const invFreq = rope ? ropeInvFreq(rope, D) : null;

  const out = new Float64Array(B * Hq * Sq * Dv);
  const lse = new Float64Array(B * Hq * Sq);
  const qRow = new Float64Array(D);
  const keys = new Float64Array(Sk * D); // kv head's keys, RoPE applied
  const scores = new Float64Array(Sk);
  const allowed = new Uint8Array(Sk);
  const keyMass = options.keyMass ? new Float64Array(B * Hkv * Sk) : undefined;

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      if (h % group === 0) {
        for (let j = 0; j < Sk; j++) {
          const base = k.offset + b * k.strides[0] + hk * k.strides[1] + j * k.strides[2];
          for (let d = 0; d < D; d++) keys[j * D + d] = rk(base + d * k.strides[3]);
          const kp = keyPos === null ? j : keyPos[hk * ks + j];
          if (rope && invFreq && kp >= 0) applyRope(keys, kp, rope, invFreq, j * D);
        }
      }
      const slope = alibiSlopes ? alibiSlopes[h] : 0;
      for (let i = 0; i < Sq; i++) {
        const pos = geo.queryPos[i];
        const qBase = q.offset + b * q.strides[0] + h * q.strides[1] + i * q.strides[2];
        for (let d = 0; d < D; d++) qRow[d] = rq(qBase + d * q.strides[3]);
        if (rope && invFreq) applyRope(qRow, pos, rope, invFreq);

        let max = -Infinity;
        for (let j = 0; j < Sk; j++) {
          const kp = keyPos === null ? j : keyPos[hk * ks + j];
          allowed[j] = kp >= 0 && pattern.allows(pos, kp, h) && geo.selected(b, hk, i, j) ? 1 : 0;
          if (!allowed[j]) continue;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qRow[d] * keys[j * D + d];
          let s = scale * dot;
          if (softcap > 0) s = softcap * Math.tanh(s / softcap);
          if (alibiSlopes) s -= slope * Math.abs(pos - kp);
          scores[j] = s;
          if (s > max || Number.isNaN(s)) max = s; // a NaN, once in, stays (s > NaN is false)
        }

        const row = (b * Hq + h) * Sq + i;
        const o = row * Dv;
        if (max === -Infinity) {
          lse[row] = -Infinity; // empty neighborhood (or only −∞ scores: Σ exp = 0): out stays 0
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Sk; j++) {
          if (!allowed[j]) continue;
          const w = Math.exp(scores[j] - max);
          sum += w;
          const vBase = v.offset + b * v.strides[0] + hk * v.strides[1] + j * v.strides[2];
          for (let d = 0; d < Dv; d++) out[o + d] += w * rv(vBase + d * v.strides[3]);
        }
        for (let d = 0; d < Dv; d++) out[o + d] /= sum;
        lse[row] = max + Math.log(sum);
        if (keyMass) {
          const km = (b * Hkv + hk) * Sk;
          for (let j = 0; j < Sk; j++) if (allowed[j]) keyMass[km + j] += Math.exp(scores[j] - max) / sum;
        }
      }
    }
  }
  return keyMass ? { out, lse, keyMass } : { out, lse };
}
