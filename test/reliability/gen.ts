/**
 * Generators of valid inputs for the reliability suites: pattern strings (every primitive,
 * combinator and preset, including ones that leave query rows empty) and attention problems
 * (shapes, dtypes, layouts, GQA, seqQ ≠ seqK, options) small enough for the float64 oracle.
 */
import type { AttentionOptions } from '../../lib/attention/plan.js';
import { Tensor, type DType } from '../../lib/tensor.js';
import { DTYPES, Gen } from './fuzz.js';

/** A random primitive or preset for sequences of about n positions. */
export function primitive(g: Gen, n: number): string {
  const small = () => g.int(1, Math.max(1, Math.min(n, 12)));
  const pos = () => g.int(0, Math.max(0, n + 2));
  const list = (f: () => number) => Array.from({ length: g.int(1, 3) }, f).join(', ');
  switch (g.int(0, 21)) {
    case 0: return 'full';
    case 1: return 'causal';
    case 2: return 'log';
    case 3: return g.bool() ? `window(${g.int(0, n)})` : `window(${g.int(0, n)}, ${g.int(0, n)})`;
    case 4: return `sliding(${small()})`;
    case 5: return `dilated(${small()}, ${small()})`;
    case 6: return `strided(${small()})`;
    case 7: {
      const s = small();
      return g.bool() ? `summary(${s})` : `summary(${s}, ${g.int(1, s)})`;
    }
    case 8: return `global(${list(pos)})`;
    case 9: return `sink(${small()})`;
    case 10: return `block(${small()})`;
    case 11: return `docs(${list(small)})`; // positions past the documents have empty rows
    case 12: return `prefix(${g.int(0, n)})`;
    case 13: return `random(${small()}, ${g.int(0, 1000)})`;
    case 14: return `randomBlocks(${small()}, ${small()}, ${g.int(0, 1000)})`;
    case 15: return `grouped(${small()}, ${g.int(0, n)})`; // rows p < w are empty
    case 16: return g.bool() ? `longformer(${small()})` : `longformer(${small()}, ${list(pos)})`;
    case 17: return g.bool() ? `bigbird(${small()}, ${small()})` : `bigbird(${small()}, ${small()}, ${list(pos)})`;
    case 18: return `sparseTransformer(${small()})`;
    case 19: return `streaming(${small()}, ${small()})`;
    case 20: return g.bool() ? `dsa(${small()}, ${small()})` : `dsa(${small()}, ${small()}, ${list(pos)})`;
    default: return g.pick(['causal - causal', 'sink(1) - full', 'full - causal', 'window(0) - causal']); // every / most rows empty
  }
}

/** A random pattern expression of the given nesting depth. */
export function patternString(g: Gen, n: number, depth = 2): string {
  if (depth <= 0 || g.bool(0.4)) return primitive(g, n);
  const r = g.int(0, 9);
  if (r === 9) {
    const k = g.int(1, 3);
    return `perHead(${Array.from({ length: k }, () => patternString(g, n, depth - 1)).join(', ')})`;
  }
  const op = g.pick(['|', '&', '-', '&', '|']);
  const a = patternString(g, n, depth - 1);
  const b = patternString(g, n, depth - 1);
  return g.bool(0.3) ? `(${a}) ${op} (${b})` : `${a} ${op} ${b}`;
}

export interface Problem {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  options: AttentionOptions;
  /** a readable description for failure messages */
  desc: string;
}

/** Random values (standard normal, scaled) for a tensor of the shape. */
function randomTensor(g: Gen, shape: number[], dtype: DType, layout: 'bhsd' | 'bshd'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = new Float32Array(n);
  for (let i = 0; i < n; i++) vals[i] = g.normal();
  return Tensor.fromFloat32(vals, shape, { dtype, layout });
}

/**
 * A valid attention problem at oracle-friendly sizes. `maxSeq` bounds the sequence lengths (the
 * CPU tile is 64×64, so lengths past 64 cross tiles).
 */
export function problem(g: Gen, maxSeq = 80): Problem {
  const dtype = g.pick(DTYPES);
  const B = g.int(1, 2);
  const Hkv = g.int(1, 3);
  const Hq = Hkv * g.pick([1, 1, 2, 3]);
  const Sk = g.bool(0.8) ? g.int(1, Math.min(maxSeq, 40)) : g.int(1, maxSeq);
  const Sq = g.pick([Sk, Sk, g.int(1, Sk), 1, g.int(1, Sk + 8)]);
  const D = g.pick([1, 2, 3, 4, 8, 16, 17, 32, g.int(1, 40)]);
  const layout = g.pick(['bhsd', 'bshd'] as const);
  const shape = (H: number, S: number) => (layout === 'bhsd' ? [B, H, S, D] : [B, S, H, D]);
  const q = randomTensor(g, shape(Hq, Sq), dtype, layout);
  const k = randomTensor(g, shape(Hkv, Sk), dtype, layout);
  const v = randomTensor(g, shape(Hkv, Sk), dtype, layout);
  const options: AttentionOptions = {};
  if (g.bool(0.85)) options.pattern = patternString(g, Math.max(Sq, Sk));
  if (g.bool(0.3)) options.causal = g.bool();
  if (g.bool(0.3)) options.scale = g.pick([0.01, 0.1, 0.5, 1, 2, 1 / Math.sqrt(D)]);
  if (g.bool(0.2)) options.softcap = g.pick([1, 5, 30]);
  if (g.bool(0.2)) options.alibi = g.bool() ? true : Float32Array.from({ length: Hq }, () => Math.abs(g.normal()) * 0.5);
  if (D >= 2 && g.bool(0.25)) {
    const dims = 2 * g.int(1, Math.floor(D / 2));
    options.rope = {};
    if (g.bool()) options.rope.base = g.pick([100, 10000, 500000]);
    if (g.bool()) options.rope.style = g.pick(['half', 'interleaved'] as const);
    if (g.bool()) options.rope.offset = g.int(-5, 100);
    if (g.bool()) options.rope.dims = dims;
  }
  if (g.bool(0.2)) options.layout = layout;
  if (g.bool(0.3)) options.returnLse = g.bool();
  const desc = `${dtype} ${layout} q[${q.shape}] k[${k.shape}] options ${JSON.stringify(options, (_k, x) => (x instanceof Float32Array ? `Float32Array[${Array.from(x).map((y) => y.toFixed(3))}]` : x))}`;
  return { q, k, v, options, desc };
}
