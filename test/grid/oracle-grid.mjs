// The CPU backend of an installed attnflow against a float64 oracle, on a grid of patterns, dtypes,
// GQA groupings, layouts and decode shapes, with poisoned outputs. Plain JavaScript on the public
// API only, so that any Node can run it: test/pack.test.ts runs it with the oldest Node `engines`
// allows and, under qemu-user, with an arm64 Node on the linux-arm64 prebuild.
//   node oracle-grid.mjs        (in a project where `attnflow` is installed)
// Prints one JSON object: { info, cases: [{ name, dtype, tol, outErr, lseErr }] }.
import { attentionSync, info, Tensor, toPattern } from 'attnflow';

const TOLERANCE = { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 };
const NAN16 = { float16: 0x7e00, bfloat16: 0x7fc0 };

/** Element (b, h, s, d) of a tensor's stored values (16-bit inputs read as stored), whatever its layout. */
function reader(t) {
  const f = t.toFloat32();
  const [B, X, Y, D] = t.shape;
  return t.layout === 'bshd' ? (b, h, s, d) => f[((b * X + s) * Y + h) * D + d] : (b, h, s, d) => f[((b * X + h) * Y + s) * D + d];
}

function dims(t) {
  const [B, X, Y, D] = t.shape;
  return t.layout === 'bshd' ? { B, H: Y, S: X, D } : { B, H: X, S: Y, D };
}

/** softmax(scale·q·kᵀ over the row's neighborhood)·v in float64; empty rows give zeros and lse −∞. */
function oracle(q, k, v, pattern, scale) {
  const { B, H: Hq, S: Sq, D } = dims(q);
  const { H: Hkv, S: Sk } = dims(k);
  const rq = reader(q), rk = reader(k), rv = reader(v);
  const out = new Float64Array(B * Hq * Sq * D);
  const lse = new Float64Array(B * Hq * Sq);
  const s = new Float64Array(Sk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / (Hq / Hkv));
      for (let i = 0; i < Sq; i++) {
        const pos = i + Sk - Sq;
        const row = (b * Hq + h) * Sq + i;
        let max = -Infinity;
        for (let j = 0; j < Sk; j++) {
          if (!pattern.allows(pos, j, h)) { s[j] = NaN; continue; }
          let dot = 0;
          for (let d = 0; d < D; d++) dot += rq(b, h, i, d) * rk(b, hk, j, d);
          s[j] = scale * dot;
          max = Math.max(max, s[j]);
        }
        if (max === -Infinity) { lse[row] = -Infinity; continue; }
        let sum = 0;
        for (let j = 0; j < Sk; j++) {
          if (Number.isNaN(s[j])) continue;
          const w = Math.exp(s[j] - max);
          sum += w;
          for (let d = 0; d < D; d++) out[row * D + d] += w * rv(b, hk, j, d);
        }
        for (let d = 0; d < D; d++) out[row * D + d] /= sum;
        lse[row] = max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

/** ‖got − want‖ / ‖want‖ over finite entries; NaN if any entry is NaN, Infinity if infinities differ. */
function relError(got, want) {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(got[i])) return NaN;
    if (!Number.isFinite(want[i]) || !Number.isFinite(got[i])) {
      if (got[i] !== want[i]) return Infinity;
      continue;
    }
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function poisoned(like) {
  const n = like.shape.reduce((a, b) => a * b, 1);
  const data = like.dtype === 'float32' ? new Float32Array(n).fill(NaN) : new Uint16Array(n).fill(NAN16[like.dtype]);
  return Tensor.from(data, like.shape, { dtype: like.dtype, layout: like.layout });
}

/** The output in logical bhsd order. */
function bhsd(t) {
  const { B, H, S, D } = dims(t);
  const r = reader(t);
  const a = new Float64Array(B * H * S * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++)
        for (let d = 0; d < D; d++) a[((b * H + h) * S + s) * D + d] = r(b, h, s, d);
  return a;
}

const patterns = ['full', 'causal', 'causal & sliding(9) | sink(2)', 'block(16) - causal', 'dsa(12, 5, 0)', 'perHead(causal, window(3, 2))'];
const shapes = [
  // [B, Hq, Hkv, Sq, Sk, D, layout]
  [1, 4, 4, 70, 70, 32, 'bhsd'],
  [2, 4, 2, 33, 130, 64, 'bshd'], // GQA 2:1, queries are the last 33 positions
  [1, 4, 1, 1, 100, 64, 'bhsd'], // MQA decode
];
const cases = [];
let seed = 1;
for (const dtype of ['float32', 'float16', 'bfloat16']) {
  for (const [B, Hq, Hkv, Sq, Sk, D, layout] of shapes) {
    for (const p of patterns) {
      const shape = (H, S) => (layout === 'bshd' ? [B, S, H, D] : [B, H, S, D]);
      const q = Tensor.randn(shape(Hq, Sq), { dtype, layout, seed: seed++ });
      const k = Tensor.randn(shape(Hkv, Sk), { dtype, layout, seed: seed++ });
      const v = Tensor.randn(shape(Hkv, Sk), { dtype, layout, seed: seed++ });
      const scale = 0.6; // sharper than 1/√D: rows far from uniform
      const out = poisoned(q);
      const got = attentionSync(q, k, v, { pattern: p, scale, backend: 'cpu', returnLse: true, out });
      const want = oracle(q, k, v, toPattern(p), scale);
      cases.push({
        name: `${p} [${B},${Hq}/${Hkv},${Sq}x${Sk},${D}] ${layout}`,
        dtype,
        tol: TOLERANCE[dtype],
        outErr: relError(bhsd(got.out), want.out),
        lseErr: relError(got.lse.toFloat32(), want.lse),
      });
    }
  }
}
// JSON has no NaN/Infinity: write them as strings so a failure still parses.
const finite = (x) => (Number.isFinite(x) ? x : String(x));
console.log(JSON.stringify({ info: info(), cases: cases.map((c) => ({ ...c, outErr: finite(c.outErr), lseErr: finite(c.lseErr) })) }));
