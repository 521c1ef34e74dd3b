/**
 * NaN and ±Infinity in q, k and v. What must hold today: no crash, outputs of the right shape,
 * and attention heads whose inputs are all finite come out exactly as the oracle says (heads are
 * independent). How non-finite values propagate *within* a head is pinned below: the native CPU
 * backend disagrees with the float64 oracle and the reference backend there (known issues, marked
 * `it.fails` so that a fix shows up; see the report in the file comments).
 */
import { describe, expect, it } from 'vitest';
import { attentionSync } from '../../lib/attention.js';
import { Tensor } from '../../lib/tensor.js';
import { oracle, relError, toBhsd, TOLERANCE } from '../helpers/oracle.js';
import { cases, failureReport, Gen, suiteSeed } from './fuzz.js';
import { problem } from './gen.js';

const SEED = suiteSeed(0x4a4e);

/** Writes a non-finite value at a random element of the (b, h) slice of t; returns [b, h]. */
function inject(g: Gen, t: Tensor, value: number): [number, number] {
  const { batch: B, heads: H, seq: S, headDim: D, strides } = t.dims4();
  const b = g.int(0, B - 1);
  const h = g.int(0, H - 1);
  const s = g.int(0, S - 1);
  const d = g.int(0, D - 1);
  const at = b * strides[0] + h * strides[1] + s * strides[2] + d * strides[3];
  const data = t.data;
  if (data instanceof Float32Array) data[at] = value;
  else {
    const f16 = t.dtype === 'float16';
    data[at] = Number.isNaN(value) ? (f16 ? 0x7e00 : 0x7fc0) : value > 0 ? (f16 ? 0x7c00 : 0x7f80) : f16 ? 0xfc00 : 0xff80;
  }
  return [b, h];
}

describe('non-finite inputs', () => {
  it('never crash; heads whose inputs are all finite are exact', () => {
    const g = new Gen(SEED);
    const failures: string[] = [];
    for (let c = 0; c < cases(200); c++) {
      const p = problem(g, 70);
      const Hq = p.q.dims4().heads;
      const Hkv = p.k.dims4().heads;
      const tainted = new Set<string>(); // "b,hq" query heads that may see a non-finite input
      for (let n = g.int(1, 3); n > 0; n--) {
        const which = g.pick(['q', 'k', 'v'] as const);
        const [b, h] = inject(g, p[which], g.pick([NaN, Infinity, -Infinity]));
        if (which === 'q') tainted.add(`${b},${h}`);
        else for (let hq = 0; hq < Hq; hq++) if (Math.floor(hq / (Hq / Hkv)) === h) tainted.add(`${b},${hq}`);
      }
      const ref = oracle(p.q, p.k, p.v, p.options);
      for (const backend of ['cpu', 'reference'] as const) {
        const where = `case ${c} ${backend} (${p.desc}; tainted heads ${[...tainted].join(' ')})`;
        let out: Tensor;
        try {
          out = attentionSync(p.q, p.k, p.v, { ...p.options, backend, returnLse: false });
        } catch (e) {
          failures.push(`${where}: threw ${(e as Error).message}`);
          continue;
        }
        if (out.shape.join() !== p.q.shape.join()) failures.push(`${where}: output shape [${out.shape}]`);
        const got = toBhsd(out);
        const { batch: B, seq: S, headDim: D } = p.q.dims4();
        for (let b = 0; b < B; b++)
          for (let h = 0; h < Hq; h++) {
            if (tainted.has(`${b},${h}`)) continue;
            const lo = ((b * Hq + h) * S) * D;
            const err = relError(got.subarray(lo, lo + S * D), ref.out.subarray(lo, lo + S * D));
            if (!(err <= TOLERANCE[p.q.dtype])) failures.push(`${where}: clean head (${b}, ${h}) has relative error ${err}`);
          }
      }
    }
    expect(failures, failureReport(failures, SEED)).toEqual([]);
  });

  // A head of 8 positions, causal; one non-finite value at key / query 3.
  function single(where: 'q' | 'k' | 'v', value: number) {
    const shape = [1, 1, 8, 4];
    const q = Tensor.randn(shape, { seed: 1 });
    const k = Tensor.randn(shape, { seed: 2 });
    const v = Tensor.randn(shape, { seed: 3 });
    const t = { q, k, v }[where];
    (t.data as Float32Array)[3 * 4 + 1] = value;
    return { q, k, v };
  }

  /** rows of a [1, 1, 8, 4] output: 'F' finite, 'N' not */
  function rowPattern(out: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < 8; i++) s += Array.from({ length: 4 }, (_, d) => out[i * 4 + d]).every(Number.isFinite) ? 'F' : 'N';
    return s;
  }

  // Keys a row does not attend must not affect it. The reference backend keeps rows 0..2 clean
  // when v[3] is NaN; the CPU kernel multiplies the masked probabilities (0) by v inside a visited
  // tile, and 0·NaN = NaN reaches every row of the tile (native/cpu/kernel_body.h, P·V).
  it('reference: a NaN in v at key 3 does not reach causal rows 0..2', () => {
    const { q, k, v } = single('v', NaN);
    expect(rowPattern(attentionSync(q, k, v, { causal: true, backend: 'reference' }).toFloat32())).toBe('FFFNNNNN');
  });
  it.fails('KNOWN ISSUE (native/cpu/kernel_body.h): cpu: a NaN in v at key 3 does not reach causal rows 0..2', () => {
    const { q, k, v } = single('v', NaN);
    expect(rowPattern(attentionSync(q, k, v, { causal: true, backend: 'cpu' }).toFloat32())).toBe('FFFNNNNN');
  });

  // A NaN score is dropped by the CPU kernel's max / exp (as if the key were masked), so the rows
  // that attend a NaN key come out finite; the oracle and the reference backend give NaN.
  it.fails('KNOWN ISSUE (native/cpu/kernel_body.h): cpu: a NaN in k at key 3 makes the rows attending it NaN, as in the oracle', () => {
    const { q, k, v } = single('k', NaN);
    const ref = rowPattern(oracle(q, k, v, { causal: true }).out);
    expect(ref).toBe('FFFNNNNN');
    expect(rowPattern(attentionSync(q, k, v, { causal: true, backend: 'cpu' }).toFloat32())).toBe(ref);
  });

  // ±Infinity in q: every score of the row is ±Infinity (or NaN): the oracle and the reference give
  // a NaN row; the CPU backend returns a zero row with lse −Infinity, as if the row were empty.
  it.fails('KNOWN ISSUE (native/cpu/kernel_body.h): cpu: an infinite q row is not reported as an empty row', () => {
    const { q, k, v } = single('q', Infinity);
    const r = attentionSync(q, k, v, { causal: true, backend: 'cpu', returnLse: true });
    expect(r.lse.toFloat32()[3]).not.toBe(-Infinity);
  });

  // A NaN in q gives every score of the row NaN; the oracle's max ignores NaN and then takes the
  // row for empty (zeros, lse −Infinity), and so do both backends: a NaN input silently becomes
  // "no neighbors". Arguably the row should be NaN (as in PyTorch); pinned so a change is noticed.
  it('a NaN q row currently comes out as an empty row (zeros, lse −Infinity) on every backend and in the oracle', () => {
    const { q, k, v } = single('q', NaN);
    for (const backend of ['cpu', 'reference'] as const) {
      const r = attentionSync(q, k, v, { causal: true, backend, returnLse: true });
      expect(r.lse.toFloat32()[3]).toBe(-Infinity);
      expect(Array.from(r.out.toFloat32().slice(12, 16))).toEqual([0, 0, 0, 0]);
    }
    expect(oracle(q, k, v, { causal: true }).lse[3]).toBe(-Infinity);
  });
});
