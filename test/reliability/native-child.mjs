// Child process of native.fuzz.test.ts: calls the addon's attentionSync / attention directly with
// argument objects built from case specs (JSON lines on stdin) and reports each outcome as a JSON
// line on stdout, written synchronously *before* and after the call, so that a crash (a signal)
// still tells the parent which case caused it. Plain JavaScript: it only needs the addon.
//
// A spec: { i, B, Hq, Hkv, Sq, Sk, D, dtype, pattern: 'full'|'causal', seed, async, muts: [...] }.
// The valid call is built first (contiguous bhsd views; out and lse inside guard zones that must
// survive the call untouched), then each mutation in `muts` breaks one thing (see MUTATE).
import { writeSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
// ATTNFLOW_ADDON_PATH: load this .node instead (e.g. a sanitizer build, see .ci/sanitize --addon)
const addon = process.env.ATTNFLOW_ADDON_PATH ? require(process.env.ATTNFLOW_ADDON_PATH) : require('node-gyp-build')(root);
const { blockQ: BQ, blockK: BK } = addon.info().cpu.tile;

const say = (o) => writeSync(1, JSON.stringify(o) + '\n');

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const GUARD = 16;
const F32_SENTINEL = 12345.5;
const U16_SENTINEL = 0x1234;

/** A typed array of n elements inside a buffer with GUARD sentinel elements on each side. */
function guarded(n, f32) {
  const C = f32 ? Float32Array : Uint16Array;
  const all = new C(n + 2 * GUARD).fill(f32 ? F32_SENTINEL : U16_SENTINEL);
  return { all, view: all.subarray(GUARD, GUARD + n) };
}

function guardsIntact(g, f32) {
  const s = f32 ? F32_SENTINEL : U16_SENTINEL;
  for (let i = 0; i < GUARD; i++) if (g.all[i] !== s || g.all[g.all.length - 1 - i] !== s) return false;
  return true;
}

function tensorData(n, dtype, r) {
  if (dtype === 0) return Float32Array.from({ length: n }, () => r() * 2 - 1);
  // 16-bit: finite values in [-1, 1) (sign, exponent below the bias, random mantissa)
  return Uint16Array.from({ length: n }, () => (dtype === 1 ? ((r() < 0.5 ? 0x8000 : 0) | (Math.floor(r() * 14) << 10) | Math.floor(r() * 1024)) : ((r() < 0.5 ? 0x8000 : 0) | ((100 + Math.floor(r() * 26)) << 7) | Math.floor(r() * 128))));
}

function view(data, dtype, shape) {
  const [, h, s, d] = shape;
  return { data, dtype, shape: [...shape], strides: [h * s * d, s * d, d, 1], offset: 0 };
}

/** The BlockMask of 'full' or 'causal' (bottom-right aligned), shared by all heads. */
function buildMask(pattern, Sq, Sk) {
  const nq = Math.ceil(Sq / BQ), nk = Math.ceil(Sk / BK), wpr = Math.ceil(BK / 32);
  const shift = Sk - Sq;
  const rowPtr = new Int32Array(nq + 1), col = [], part = [], bits = [];
  for (let qb = 0; qb < nq; qb++) {
    for (let kb = 0; kb < nk; kb++) {
      let any = false, all = true;
      const tile = new Uint32Array(BQ * wpr);
      for (let r = 0; r < BQ; r++) {
        const i = qb * BQ + r;
        for (let c = 0; c < BK; c++) {
          const j = kb * BK + c;
          if (i >= Sq || j >= Sk) continue;
          const ok = pattern === 'full' || j <= i + shift;
          if (ok) {
            any = true;
            tile[r * wpr + (c >> 5)] |= 1 << (c & 31);
          } else all = false;
        }
      }
      if (!any) continue;
      col.push(kb);
      if (all) part.push(-1);
      else {
        part.push(bits.length / (BQ * wpr));
        bits.push(...tile);
      }
    }
    rowPtr[qb + 1] = col.length;
  }
  return { seqQ: Sq, seqK: Sk, blockQ: BQ, blockK: BK, numQBlocks: nq, numKBlocks: nk, heads: 1, wordsPerRow: wpr, rowPtr, colIdx: Int32Array.from(col), partial: Int32Array.from(part), bits: Uint32Array.from(bits) };
}

function build(spec) {
  const r = rng(spec.seed);
  const { B, Hq, Hkv, Sq, Sk, D, dtype } = spec;
  const f32 = dtype === 0;
  const out = guarded(B * Hq * Sq * D, f32);
  const lse = guarded(B * Hq * Sq, true);
  const args = {
    q: view(tensorData(B * Hq * Sq * D, dtype, r), dtype, [B, Hq, Sq, D]),
    k: view(tensorData(B * Hkv * Sk * D, dtype, r), dtype, [B, Hkv, Sk, D]),
    v: view(tensorData(B * Hkv * Sk * D, dtype, r), dtype, [B, Hkv, Sk, D]),
    out: view(out.view, dtype, [B, Hq, Sq, D]),
    lse: lse.view,
    mask: buildMask(spec.pattern, Sq, Sk),
    scale: 1 / Math.sqrt(D),
    softcap: 0,
    alibi: null,
    rope: null,
  };
  return { args, guards: [[out, f32], [lse, true]] };
}

const TYPED = { Float32Array, Float64Array, Int32Array, Uint32Array, Uint16Array, Int16Array, Uint8Array, BigInt64Array };

function resizable(ta) {
  const buf = new ArrayBuffer(ta.byteLength, { maxByteLength: ta.byteLength * 2 + 8 });
  const c = new ta.constructor(buf);
  c.set(ta);
  return { c, buf };
}

/** value from a mutation parameter: numbers travel as strings when not JSON-safe */
function val(x) {
  if (x === 'NaN') return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  if (x === 'undefined') return undefined;
  if (typeof x === 'string' && x.startsWith('str:')) return x.slice(4);
  if (typeof x === 'string' && x.startsWith('big:')) return BigInt(x.slice(4));
  return x;
}

// Each mutation: (args, m, ctx) => void. m carries the target and the parameters chosen by the parent.
const MUTATE = {
  viewReplace: (a, m) => { a[m.t] = val(m.v); },
  dataType: (a, m) => { const d = a[m.t].data; a[m.t].data = m.ctor === 'Array' ? Array.from(d) : m.ctor === 'ArrayBuffer' ? d.buffer : m.ctor === 'DataView' ? new DataView(d.buffer) : new TYPED[m.ctor](d.length); },
  dataShorter: (a, m) => { const d = a[m.t].data; a[m.t].data = d.subarray(0, Math.max(0, d.length - m.by)); },
  dataEmpty: (a, m) => { a[m.t].data = new a[m.t].data.constructor(0); },
  dtype: (a, m) => { a[m.t].dtype = val(m.v); },
  shapeEntry: (a, m) => { a[m.t].shape[m.axis] = m.v === 'shape+1' ? a[m.t].shape[m.axis] + 1 : val(m.v); },
  shapeLength: (a, m) => { a[m.t].shape = m.n < 4 ? a[m.t].shape.slice(0, m.n) : [...a[m.t].shape, ...Array(m.n - 4).fill(1)]; },
  shapeReplace: (a, m) => { a[m.t].shape = val(m.v); },
  strideEntry: (a, m) => { a[m.t].strides[m.axis] = val(m.v); },
  strideReplace: (a, m) => { a[m.t].strides = val(m.v); },
  offset: (a, m) => { const n = a[m.t].data.length; a[m.t].offset = m.v === 'len' ? n : m.v === 'len+1' ? n + 1 : m.v === 'one' ? 1 : val(m.v); },
  deleteField: (a, m) => { if (m.t === 'args') delete a[m.f]; else if (m.t === 'mask') delete a.mask[m.f]; else delete a[m.t][m.f]; },
  resizable: (a, m, ctx) => { const { c, buf } = resizable(a[m.t].data); a[m.t].data = c; ctx.keep.push(buf); },
  // broadcast views: zero strides over a few elements, with shapes that would claim billions of rows
  hugeBroadcast: (a, m) => {
    const v = a[m.t];
    v.shape[m.axis] = m.n;
    v.strides = [0, 0, 0, 1];
    if (m.t === 'q' || m.t === 'out') { a.q.shape[m.axis] = m.n; a.out.shape[m.axis] = m.n; a.q.strides = [0, 0, 0, 1]; a.out.strides = [0, 0, 0, 1]; }
    if (m.t === 'k' || m.t === 'v') { a.k.shape[m.axis] = m.n; a.v.shape[m.axis] = m.n; a.k.strides = [0, 0, 0, 1]; a.v.strides = [0, 0, 0, 1]; }
    if (m.axis === 2) {
      const Sq = a.q.shape[2], Sk = a.k.shape[2];
      const nq = Math.ceil(Sq / BQ), nk = Math.ceil(Sk / BK);
      Object.assign(a.mask, { seqQ: Sq, seqK: Sk, numQBlocks: nq, numKBlocks: nk, rowPtr: new Int32Array(nq + 1), colIdx: new Int32Array(0), partial: new Int32Array(0), bits: new Uint32Array(0) });
    }
    if (m.rope) a.rope = { base: 10000, interleaved: false, offset: 0, dims: 2 * Math.max(1, Math.floor(a.q.shape[3] / 2)) };
  },
  outOverlap: (a) => { a.out.strides = [0, 0, 0, 1]; },
  // mask
  maskField: (a, m) => { a.mask[m.f] = val(m.v); },
  maskArrayType: (a, m) => { const d = a.mask[m.f]; a.mask[m.f] = m.ctor === 'Array' ? Array.from(d) : new TYPED[m.ctor](d.length); },
  rowPtrEntry: (a, m) => { const r = Int32Array.from(a.mask.rowPtr); r[m.at % r.length] = m.v; a.mask.rowPtr = r; },
  rowPtrSwap: (a) => { const r = Int32Array.from(a.mask.rowPtr); if (r.length > 2) { const x = r[1]; r[1] = r[2] + 1; r[2] = x; } else r[1] = r[1] + 1; a.mask.rowPtr = r; },
  rowPtrLength: (a, m) => { const r = a.mask.rowPtr; a.mask.rowPtr = m.by > 0 ? Int32Array.from([...r, r[r.length - 1]]) : r.subarray(0, Math.max(0, r.length - 1)); },
  colIdxEntry: (a, m) => { const c = Int32Array.from(a.mask.colIdx); if (c.length) c[m.at % c.length] = m.v; else { a.mask.colIdx = Int32Array.of(m.v); a.mask.partial = Int32Array.of(-1); const r = Int32Array.from(a.mask.rowPtr); for (let i = 1; i < r.length; i++) r[i] += 1; a.mask.rowPtr = r; return; } a.mask.colIdx = c; },
  partialEntry: (a, m) => { const p = Int32Array.from(a.mask.partial); if (!p.length) return false; if (p.length) p[m.at % p.length] = m.v === 'past' ? a.mask.bits.length / (a.mask.blockQ * a.mask.wordsPerRow) : m.v; a.mask.partial = p; },
  partialLength: (a, m) => { const p = a.mask.partial; a.mask.partial = m.by > 0 ? Int32Array.from([...p, -1]) : p.subarray(0, Math.max(0, p.length - 1)); },
  bitsLength: (a, m) => { const b = a.mask.bits; if (m.by < 0 && b.length === 0) return false; a.mask.bits = m.by > 0 ? Uint32Array.from([...b, 0]) : b.subarray(0, Math.max(0, b.length - m.by * -1)); },
  // scalars and the optional arrays
  scalar: (a, m) => { a[m.f] = val(m.v); },
  lse: (a, m) => { a.lse = m.v === 'short' ? a.lse.subarray(0, Math.max(0, a.lse.length - 1)) : m.v === 'long' ? new Float32Array(a.lse.length + 1) : m.v === 'f64' ? new Float64Array(a.lse.length) : val(m.v); },
  alibi: (a, m) => { const H = a.q.shape[1]; a.alibi = m.v === 'short' ? new Float32Array(Math.max(0, H - 1)) : m.v === 'long' ? new Float32Array(H + 1) : m.v === 'nan' ? new Float32Array(H).fill(NaN) : m.v === 'inf' ? new Float32Array(H).fill(Infinity) : m.v === 'f64' ? new Float64Array(H) : m.v === 'ok' ? new Float32Array(H).fill(0.25) : val(m.v); },
  rope: (a, m) => { a.rope = m.v === 'object' ? { base: val(m.base), interleaved: m.interleaved, offset: val(m.offset), dims: val(m.dims) } : val(m.v); },
  // JS that runs while the arguments are read: a getter that detaches (transfers) an earlier array
  detachingGetter: (a, m, ctx) => {
    const victim = a[m.victim].data;
    const mask = a.mask;
    delete a.mask;
    Object.defineProperty(a, 'mask', { enumerable: true, get() { ctx.keep.push(structuredClone(victim.buffer, { transfer: [victim.buffer] })); return mask; } });
  },
  proxyArgs: (a, m, ctx) => { ctx.proxy = true; ctx.proxyThrows = m.throws; },
  argsReplace: (a, m, ctx) => { ctx.replace = true; ctx.replacement = val(m.v); },
};

async function runOne(spec) {
  const ctx = { keep: [], proxy: false };
  const { args, guards } = build(spec);
  // a mutation that found nothing to break (e.g. an entry of an empty array) returns false
  // (a mutation that meets what an earlier one removed is skipped)
  const applied = spec.muts.map((m) => {
    try {
      return MUTATE[m.op](args, m, ctx) !== false;
    } catch {
      return true;
    }
  });
  const noop = applied.includes(false);
  let target = ctx.replace ? ctx.replacement : args;
  if (ctx.proxy) target = new Proxy(args, { get(o, k) { if (ctx.proxyThrows && k === 'scale') throw new RangeError('proxy trap threw'); return o[k]; } });
  say({ i: spec.i, phase: 'start' });
  let outcome;
  try {
    if (spec.async) {
      let p;
      try {
        p = addon.attention(target);
      } catch (e) {
        throw Object.assign(e, { syncThrow: true });
      }
      if (!(p instanceof Promise)) throw new Error('attention did not return a promise');
      await p;
    } else addon.attentionSync(target);
    outcome = { ok: true };
  } catch (e) {
    outcome = { error: { name: e?.name, ctor: e?.constructor?.name, message: String(e?.message ?? e), sync: !!e?.syncThrow } };
  }
  outcome.guards = guards.every(([g, f32]) => guardsIntact(g, f32));
  if (outcome.ok && spec.muts.length === 0 && spec.dtype === 0) outcome.maxErr = checkAgainstNaive(spec, args);
  say({ i: spec.i, phase: 'end', noop, ...outcome });
}

/** Max abs difference between the addon's output and a naive float64 attention (float32 controls). */
function checkAgainstNaive(spec, a) {
  const { B, Hq, Hkv, Sq, Sk, D } = spec;
  const g = Hq / Hkv, shift = Sk - Sq, scale = a.scale;
  let worst = 0;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++)
      for (let i = 0; i < Sq; i++) {
        const hk = Math.floor(h / g);
        const qo = ((b * Hq + h) * Sq + i) * D;
        const s = [];
        for (let j = 0; j < Sk; j++) {
          if (spec.pattern === 'causal' && j > i + shift) continue;
          const ko = ((b * Hkv + hk) * Sk + j) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += a.q.data[qo + d] * a.k.data[ko + d];
          s.push([j, dot * scale]);
        }
        const o = new Float64Array(D);
        if (s.length) {
          const mx = Math.max(...s.map((x) => x[1]));
          let sum = 0;
          for (const [j, x] of s) {
            const w = Math.exp(x - mx);
            sum += w;
            const vo = ((b * Hkv + hk) * Sk + j) * D;
            for (let d = 0; d < D; d++) o[d] += w * a.v.data[vo + d];
          }
          for (let d = 0; d < D; d++) o[d] /= sum;
        }
        for (let d = 0; d < D; d++) worst = Math.max(worst, Math.abs(o[d] - a.out.data[qo + d]));
      }
  return worst;
}

const specs = readFileSync(0, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
for (const spec of specs) await runOne(spec);
say({ phase: 'done', maxRssMiB: process.resourceUsage().maxRSS / 1024 });
