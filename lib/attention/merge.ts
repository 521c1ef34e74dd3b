/**
 * mergeAttention: attention over disjoint key sets → attention over their union, exactly (up to
 * rounding): with weights w_i = exp(lse_i − max), out = Σ w_i·out_i / Σ w_i and
 * lse = max + log Σ w_i. The primitive behind split-KV decoding and sharded (ring) attention.
 *
 * Non-finite values: a part whose lse is −Infinity is empty (no key, or only −∞ scores) and
 * contributes nothing, whatever its out holds; a row every part of which is empty stays zero
 * with lse −Infinity. Otherwise IEEE arithmetic: a NaN lse (or +Infinity: exp(∞ − ∞)) makes the
 * row NaN, and a NaN in a non-empty part's out makes the row NaN even when its weight underflows
 * to 0 (0·NaN = NaN, as in one pass over all the keys).
 */
import { elementReader, encode16 } from '../dtypes.js';
import { Tensor } from '../tensor.js';

export interface AttentionPart {
  out: Tensor;
  /** float32 [batch, heads, seq] */
  lse: Tensor;
}

function describe(x: unknown): string {
  return x === null ? 'null' : typeof x === 'object' ? ((x as object).constructor?.name ?? 'object') : typeof x;
}

export function mergeAttention(parts: readonly AttentionPart[]): AttentionPart {
  if (!Array.isArray(parts) || parts.length === 0) throw new TypeError('parts must be a non-empty array of { out, lse }');
  // index loops, not forEach: a sparse array's holes must be reported, not skipped
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p === null || typeof p !== 'object') throw new TypeError(`parts[${i}] must be an object { out, lse } (got ${describe(p)})`);
    if (!(p.out instanceof Tensor)) throw new TypeError(`parts[${i}].out must be a Tensor (got ${describe(p.out)})`);
    if (!(p.lse instanceof Tensor)) throw new TypeError(`parts[${i}].lse must be a Tensor (got ${describe(p.lse)})`);
    if (p.out.disposed || p.lse.disposed) throw new Error(`parts[${i}] holds a disposed tensor`);
    if (p.out.shape.length !== 4) throw new RangeError(`parts[${i}].out must be 4-D (got [${p.out.shape.join(', ')}])`);
    const first = parts[0];
    if (p.out.shape.join() !== first.out.shape.join() || p.out.layout !== first.out.layout || p.out.dtype !== first.out.dtype) {
      throw new RangeError(`parts[${i}].out must match parts[0].out: ${first.out.dtype} [${first.out.shape.join(', ')}] ${first.out.layout} (got ${p.out.dtype} [${p.out.shape.join(', ')}] ${p.out.layout})`);
    }
  }
  const first = parts[0];
  const { batch: B, heads: H, seq: S, headDim: D, strides } = first.out.dims4();
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.lse.dtype !== 'float32' || p.lse.shape.join() !== [B, H, S].join()) {
      throw new RangeError(`parts[${i}].lse must be float32 [${B}, ${H}, ${S}] (got ${p.lse.dtype} [${p.lse.shape.join(', ')}])`);
    }
  }

  const outs = parts.map((p) => elementReader(p.out.data, p.out.dtype));
  const lses = parts.map((p) => p.lse.data as Float32Array);
  const merged = new Float64Array(first.out.size);
  const lse = new Float32Array(B * H * S);
  const w = new Float64Array(parts.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const row = (b * H + h) * S + s;
        let max = -Infinity;
        for (const l of lses) max = Math.max(max, l[row]); // NaN propagates
        if (max === -Infinity) {
          lse[row] = -Infinity;
          continue; // every part empty: the row stays zero
        }
        let sum = 0;
        for (let i = 0; i < parts.length; i++) {
          const li = lses[i][row];
          w[i] = li === -Infinity ? 0 : Math.exp(li - max);
          sum += w[i];
        }
        lse[row] = max + Math.log(sum);
        const base = b * strides[0] + h * strides[1] + s * strides[2];
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let i = 0; i < parts.length; i++) if (lses[i][row] !== -Infinity) acc += w[i] * outs[i](base + d);
          merged[base + d] = acc / sum;
        }
      }
    }
  }
  const dtype = first.out.dtype;
  const data = dtype === 'float32' ? Float32Array.from(merged) : encode16(merged, dtype);
  return {
    out: Tensor.from(data, first.out.shape, { dtype, layout: first.out.layout }),
    lse: Tensor.from(lse, [B, H, S]),
  };
}
