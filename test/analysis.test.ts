import { describe, expect, it } from 'vitest';
import { analyze, type Analysis } from '../lib/analysis/index.js';
import { sampleOfQueries } from '../lib/analysis/analyze.js';
import { IntervalBuffer, MaskRows, scanBitRuns } from '../lib/analysis/rows.js';
import { neighborhoodReader } from '../lib/analysis/neighborhoods.js';
import { compileMask } from '../lib/mask/index.js';
import { parsePattern } from '../lib/patterns/index.js';
import type { Pattern } from '../lib/patterns/pattern.js';
import {
  bruteForce,
  intervalPattern,
  predicatePattern,
  randomMatrixPattern,
  randomOffsets,
  randomPatternString,
  rng,
  toeplitzPattern,
  type Brute,
} from './helpers/flow-brute.js';

function expectMatches(a: Analysis, b: Brute, T: number): void {
  expect(a.edges).toBeCloseTo(b.edges, 9);
  expect(a.density).toBeCloseTo(b.edges / (T * T), 12);
  expect(a.neighborhood.min).toBe(b.nmin);
  expect(a.neighborhood.max).toBe(b.nmax);
  expect(a.neighborhood.mean).toBeCloseTo(b.edges / T, 9);
  expect(a.receptiveField.last).toEqual(b.last);
  expect(a.receptiveField.min).toEqual(b.min);
  expect(a.receptiveField.minCoverage.length).toBe(b.minCoverage.length);
  a.receptiveField.minCoverage.forEach((c, l) => expect(c).toBeCloseTo(b.minCoverage[l], 12));
  expect(a.fullDepth).toBe(b.fullDepth);
  expect(a.saturationDepth).toBe(b.saturationDepth);
  expect(a.tileEfficiency).toBeCloseTo(b.tileEfficiency, 12);
}

/** analyze vs brute force, with a readable failure. */
function check(stack: Pattern[], T: number, layers: number, opts: Parameters<typeof analyze>[1] extends infer O ? Partial<O> : never = {}, what = ''): Analysis {
  const tile = opts.tile ?? { blockQ: 64, blockK: 64 };
  const a = analyze(stack.length === 1 ? stack[0] : stack, { seqLen: T, layers, tile, ...opts });
  const queries = a.queries < T ? [...sampleOfQueries(T, opts.sampleQueries!)] : undefined;
  const b = bruteForce(stack, T, layers, tile, opts.head ?? 0, queries);
  try {
    expectMatches(a, b, T);
  } catch (e) {
    throw new Error(`${what || stack.map(String).join(' ; ')} at T=${T}, ${layers} layers (${a.method}): ${(e as Error).message}`);
  }
  return a;
}

const TILES = [
  { blockQ: 128, blockK: 64 },
  { blockQ: 8, blockK: 4 },
  { blockQ: 5, blockK: 3 },
  { blockQ: 3, blockK: 40 },
  { blockQ: 16, blockK: 32 },
];

// ---------------------------------------------------------------------------------------------

describe('mask rows and interval rules', () => {
  it('scanBitRuns finds every run, across words and at the limit', () => {
    const r = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const words = 1 + Math.floor(r() * 3);
      const bits = new Uint32Array(words);
      const dense = r();
      const ref: number[] = [];
      for (let c = 0; c < words * 32; c++) {
        const on = r() < dense;
        if (on) bits[c >> 5] |= 1 << (c & 31);
      }
      const limit = 10 + Math.floor(r() * words * 32);
      for (let c = 0; c < Math.min(limit - 10, words * 32); c++) ref.push((bits[c >> 5] >>> (c & 31)) & 1);
      const out = new IntervalBuffer(1);
      out.push(0, 5); // an earlier interval ending before base
      scanBitRuns(bits, 0, words, 10, limit, out);
      const got = new Array<number>(Math.min(limit - 10, words * 32)).fill(0);
      for (let k = 1; k < out.n; k++) {
        expect(out.lo[k]).toBeGreaterThanOrEqual(10);
        expect(out.hi[k]).toBeLessThanOrEqual(limit);
        if (k > 1) expect(out.lo[k]).toBeGreaterThan(out.hi[k - 1]); // disjoint, not adjacent
        for (let c = out.lo[k]; c < out.hi[k]; c++) got[c - 10] = 1;
      }
      expect(got).toEqual(ref);
    }
  });

  const rowOf = (p: Pattern, i: number, T: number) => {
    const want: number[] = [];
    for (let j = 0; j < T; j++) if (p.allows(i, j, 0)) want.push(j);
    return want;
  };
  const expand = (buf: IntervalBuffer) => {
    const got: number[] = [];
    for (let k = 0; k < buf.n; k++) {
      if (k > 0) expect(buf.lo[k]).toBeGreaterThan(buf.hi[k - 1]); // sorted, disjoint, not adjacent
      for (let j = buf.lo[k]; j < buf.hi[k]; j++) got.push(j);
    }
    return got;
  };

  it('compiled masks read back exactly the allowed keys of each row', () => {
    for (const tile of TILES) {
      for (let seed = 1; seed <= 3; seed++) {
        const T = 37 + seed * 11;
        const p = seed === 2 ? toeplitzPattern([0, 1, 2, 5, 9, 10, 11, 12, 40]) : randomMatrixPattern(T, 0.2 * seed, seed);
        const rows = new MaskRows(compileMask(p, { seqQ: T, seqK: T, ...tile }), 0);
        const buf = new IntervalBuffer(2);
        for (let i = 0; i < T; i++) {
          rows.read(i, buf);
          expect(expand(buf)).toEqual(rowOf(p, i, T));
        }
      }
    }
  });

  it('interval rules give exactly the allowed keys of random compositions, every head', () => {
    const r = rng(4242);
    for (let trial = 0; trial < 160; trial++) {
      const T = 1 + Math.floor(r() * 80);
      const s = randomPatternString(r, T);
      const p = parsePattern(s);
      const head = Math.floor(r() * 3);
      const reader = neighborhoodReader(p, T, head);
      expect(reader, s).not.toBeNull();
      const buf = new IntervalBuffer(1);
      for (let i = 0; i < T; i++) {
        reader!.read(i, buf);
        const want: number[] = [];
        for (let j = 0; j < T; j++) if (p.allows(i, j, head)) want.push(j);
        const got = expand(buf);
        if (got.join() !== want.join()) throw new Error(`${s} head ${head} row ${i} at T=${T}: got ${got}, want ${want}`);
      }
    }
  });

  it('leaves user Patterns to the compiled mask', () => {
    expect(neighborhoodReader(toeplitzPattern([0, 1]), 10, 0)).toBeNull();
    expect(neighborhoodReader(parsePattern('causal') as never, 10, 0)).not.toBeNull();
  });
});

describe('analyze: every method agrees with the brute-force definition', () => {
  it('random matrices (general search, bit matrix, all queries as a sample)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed * 101);
      const T = 1 + Math.floor(r() * 40);
      const density = [0.02, 0.05, 0.1, 0.3, 0.7][seed % 5];
      const layers = Math.floor(r() * 8);
      const tile = TILES[seed % TILES.length];
      const p = randomMatrixPattern(T, density, seed);
      check([p], T, layers, { tile });
      check([p], T, layers, { tile, method: 'bfs' });
      check([p], T, layers, { tile, method: 'bit-matrix' });
      check([p], T, layers, { tile, method: 'sampled', sampleQueries: T });
    }
  });

  it('random matrices with rows that read every key (the global-token shortcut)', () => {
    for (let seed = 1; seed <= 16; seed++) {
      const r = rng(seed * 977);
      const T = 2 + Math.floor(r() * 50);
      const hubs = new Set([Math.floor(r() * T), Math.floor(r() * T)]);
      const base = randomMatrixPattern(T, [0.02, 0.05, 0.1][seed % 3], seed);
      const p = predicatePattern('hubs', (i, j) => hubs.has(i) || base.allows(i, j, 0));
      const layers = Math.floor(r() * 8);
      const tile = TILES[seed % TILES.length];
      check([p], T, layers, { tile });
      check([p], T, layers, { tile, method: 'bit-matrix' });
    }
  });

  it('translation-invariant causal patterns and stacks of them (toeplitz-causal)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 7919);
      const T = 1 + Math.floor(r() * 70);
      const m = 1 + Math.floor(r() * 3);
      const stack = Array.from({ length: m }, (_, k) => toeplitzPattern(randomOffsets(seed * 10 + k, Math.floor(r() * 20))));
      const layers = Math.floor(r() * 12);
      const tile = TILES[seed % TILES.length];
      const a = check(stack, T, layers, { tile });
      expect(a.method).toBe('toeplitz-causal');
      check(stack, T, layers, { tile, method: m === 1 ? 'bfs' : 'bit-matrix' });
    }
  });

  it('interval neighborhoods and stacks of them, monotone and not (interval)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 31337);
      const T = 1 + Math.floor(r() * 70);
      const m = 1 + Math.floor(r() * 3);
      const stack = Array.from({ length: m }, (_, k) => intervalPattern(T, seed * 10 + k, (seed + k) % 2 === 0));
      const layers = Math.floor(r() * 30);
      const tile = TILES[seed % TILES.length];
      const a = check(stack, T, layers, { tile });
      expect(['interval', 'toeplitz-causal']).toContain(a.method);
      check(stack, T, layers, { tile, method: 'interval' });
      check(stack, T, layers, { tile, method: 'bit-matrix' });
    }
  });

  it('random compositions of the pattern language, single and stacked, seqLen not a multiple of anything', () => {
    const r = rng(99);
    for (let trial = 0; trial < 60; trial++) {
      const T = [1, 2, 7, 13, 29, 47, 61, 83][trial % 8];
      const m = 1 + Math.floor(r() * 3);
      const stack = Array.from({ length: m }, () => parsePattern(randomPatternString(r, T)));
      const layers = Math.floor(r() * 9);
      const tile = TILES[trial % TILES.length];
      const head = Math.floor(r() * 2);
      check(stack, T, layers, { tile, head });
      check(stack, T, layers, { tile, head, method: 'sampled', sampleQueries: T });
      if (m === 1) check(stack, T, layers, { tile, head, method: 'bfs' });
      else check(stack, T, layers, { tile, head, method: 'bit-matrix' });
    }
  });

  it('a sample of queries: the statistics of exactly those queries', () => {
    const r = rng(5);
    for (let trial = 0; trial < 20; trial++) {
      const T = 20 + Math.floor(r() * 60);
      const m = 1 + (trial % 3);
      const stack = Array.from({ length: m }, () => parsePattern(randomPatternString(r, T, 2)));
      const layers = Math.floor(r() * 10);
      const n = 1 + Math.floor(r() * 8);
      const a = check(stack, T, layers, { method: 'sampled', sampleQueries: n });
      expect(a.queries).toBe(sampleOfQueries(T, n).length);
      expect(a.method).toBe('sampled');
    }
    expect([...sampleOfQueries(10, 1)]).toEqual([9]);
    expect([...sampleOfQueries(10, 4)]).toEqual([0, 3, 6, 9]);
    expect([...sampleOfQueries(5, 99)]).toEqual([0, 1, 2, 3, 4]);
  });

  it('near misses are not taken for the structured cases', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const T = 40;
      const base = toeplitzPattern([0, 1, 3, 7]);
      const r = rng(seed);
      const fi = 1 + Math.floor(r() * (T - 1));
      const fj = Math.floor(r() * fi);
      // flip one pair below the diagonal: still causal, no longer translation-invariant
      const p = predicatePattern('flip', (i, j) => (i === fi && j === fj ? !base.allows(i, j, 0) : base.allows(i, j, 0)));
      const a = check([p], T, 12);
      expect(a.method).not.toBe('toeplitz-causal');
      expect(() => analyze(p, { seqLen: T, layers: 3, method: 'toeplitz-causal' })).toThrow(/translation-invariant/);
    }
    const gap = predicatePattern('gap', (i, j) => j === i || j === i - 2);
    expect(analyze(gap, { seqLen: 20, layers: 3 }).method).toBe('toeplitz-causal');
    expect(() => analyze(gap, { seqLen: 20, layers: 3, method: 'interval' })).toThrow(/not intervals/);
    const twoSided = predicatePattern('two', (i, j) => Math.abs(i - j) === 2);
    expect(analyze(twoSided, { seqLen: 20, layers: 3 }).method).toBe('bfs');
    expect(analyze([twoSided, gap], { seqLen: 20, layers: 3 }).method).toBe('bit-matrix');
    expect(() => analyze([twoSided, gap], { seqLen: 20, layers: 3, method: 'bfs' })).toThrow(/one pattern at every layer/);
    expect(() => analyze(twoSided, { seqLen: 20, layers: 3, method: 'sampled' })).toThrow(/needs sampleQueries/);
  });

  it('edge cases: one token, zero layers, an empty pattern, self-only', () => {
    const empty = predicatePattern('none', () => false);
    const a = analyze(empty, { seqLen: 10, layers: 3 });
    expect(a.edges).toBe(0);
    expect(a.neighborhood).toEqual({ min: 0, mean: 0, max: 0 });
    expect(a.receptiveField).toEqual({ last: [1, 1, 1], min: [1, 1, 1], minCoverage: [0.1, 0.1, 0.1] });
    expect(a.fullDepth).toBeNull();
    expect(a.saturationDepth).toBe(0);
    expect(a.tileEfficiency).toBe(1);
    const self = predicatePattern('self', (i, j) => i === j);
    expect(analyze(self, { seqLen: 5, layers: 2 }).saturationDepth).toBe(0);
    const full = predicatePattern('full', () => true);
    const f0 = analyze(full, { seqLen: 6, layers: 0 });
    expect(f0.receptiveField).toEqual({ last: [], min: [], minCoverage: [] });
    expect(f0.fullDepth).toBeNull();
    expect(f0.saturationDepth).toBeNull();
    const f1 = analyze(full, { seqLen: 6, layers: 1 });
    expect([f1.fullDepth, f1.saturationDepth]).toEqual([1, 1]);
    const one = analyze(full, { seqLen: 1, layers: 2 });
    expect(one.receptiveField).toEqual({ last: [1, 1], min: [1, 1], minCoverage: [1, 1] });
    expect([one.fullDepth, one.saturationDepth]).toEqual([0, 0]);
    expect(one.density).toBe(1);
  });

  it('rejects bad options and bad stacks', () => {
    const full = predicatePattern('full', () => true);
    expect(() => analyze(full, { seqLen: 0, layers: 1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 2.5, layers: 1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: -1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: 1, tile: { blockQ: 0, blockK: 4 } })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: 1, head: -1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: 1, sampleQueries: 0 })).toThrow(/sampleQueries/);
    expect(() => analyze(full, { seqLen: 4, layers: 1, backend: 'tpu' as never })).toThrow(/backend/);
    expect(() => analyze([], { seqLen: 4, layers: 1 })).toThrow(/at least one pattern/);
    expect(() => analyze(['causal', 'sliding('], { seqLen: 4, layers: 1 })).toThrow(/layer pattern #1/);
  });

  it('refuses the general methods past the work budget, and samples when asked to', () => {
    const p = randomMatrixPattern(300, 0.01, 5);
    expect(() => analyze(p, { seqLen: 300, layers: 4, maxWork: 1e4 })).toThrow(/sampleQueries/);
    expect(() => analyze([p, 'causal'], { seqLen: 300, layers: 4, maxWork: 1e4 })).toThrow(/sampleQueries/);
    const a = analyze(p, { seqLen: 300, layers: 4, maxWork: 1e4, sampleQueries: 4 });
    expect([a.method, a.queries]).toEqual(['sampled', 4]);
    // the sample itself has a budget too
    expect(() => analyze(p, { seqLen: 300, layers: 4, maxWork: 1e2, sampleQueries: 4 })).toThrow(/sampled queries/);
  });
});

// ---------------------------------------------------------------------------------------------
// The seeds' claims, where they hold, and what attnflow measures where they do not.

function popcountAtMost(T: number, l: number): number {
  let c = 0;
  for (let s = 0; s < T; s++) {
    let x = s;
    let b = 0;
    while (x) {
      b += x & 1;
      x >>= 1;
    }
    if (b <= l) c++;
  }
  return c;
}

describe('analyze: the seed claims for named patterns', () => {
  it('sliding(w) grows by w−1 per layer and covers every prefix after ⌈(T−1)/(w−1)⌉ layers', () => {
    for (const [T, w] of [
      [100, 8],
      [257, 2],
      [1000, 33],
      [4097, 64],
    ]) {
      const need = Math.ceil((T - 1) / (w - 1));
      const a = analyze(`sliding(${w})`, { seqLen: T, layers: need + 2 });
      for (let l = 1; l <= need + 2; l++) {
        expect(a.receptiveField.last[l - 1]).toBe(Math.min(T, l * (w - 1) + 1));
        // the last query is the worst covered: min(T, l(w−1)+1) / T
        expect(a.receptiveField.minCoverage[l - 1]).toBeCloseTo(Math.min(T, l * (w - 1) + 1) / T, 12);
      }
      expect(a.receptiveField.min.every((x) => x === 1)).toBe(true);
      expect([a.fullDepth, a.saturationDepth]).toEqual([need, need]);
      expect(analyze(`sliding(${w})`, { seqLen: T, layers: need - 1 }).fullDepth).toBeNull();
      expect(a.neighborhood.max).toBe(w);
      expect(a.neighborhood.min).toBe(1);
    }
  });

  it('log covers every prefix within ⌈log2 T⌉ layers: exactly ⌊log2 T⌋, the largest popcount below T', () => {
    for (const T of [2, 3, 16, 100, 1024, 3000]) {
      const need = Math.floor(Math.log2(T));
      const a = analyze('log', { seqLen: T, layers: need + 1 });
      for (let l = 1; l <= need + 1; l++) expect(a.receptiveField.last[l - 1]).toBe(popcountAtMost(T, l));
      expect(a.fullDepth).toBe(need);
      expect(a.fullDepth).toBeLessThanOrEqual(Math.ceil(Math.log2(T)));
      if (T === 1024 || T === 16) expect(a.fullDepth).toBe(Math.ceil(Math.log2(T)));
      if (need > 1) expect(analyze('log', { seqLen: T, layers: need - 1 }).fullDepth).toBeNull();
    }
  });

  it('dilated: one dilation never covers the prefix (worst coverage 1/d); dilation w^l per layer covers it in ⌈log_w T⌉ layers', () => {
    for (const [T, w, d] of [
      [200, 4, 3],
      [500, 8, 5],
    ]) {
      const a = analyze(`dilated(${w}, ${d})`, { seqLen: T, layers: 40 });
      expect(a.fullDepth).toBeNull();
      expect(a.saturationDepth).not.toBeNull();
      expect(a.receptiveField.minCoverage[39]).toBeCloseTo(1 / d, 12); // token d − 1 reaches only itself
    }
    for (const [T, w] of [
      [64, 4],
      [65, 4],
      [1000, 10],
      [4097, 8],
      [5000, 2],
    ]) {
      const stack: string[] = [];
      for (let l = 0, d = 1; d < T; l++, d *= w) stack.push(`dilated(${w}, ${d})`);
      const need = Math.ceil(Math.log(T) / Math.log(w) - 1e-12);
      expect(stack.length).toBe(need);
      const a = analyze(stack, { seqLen: T, layers: need + 1 });
      expect(a.method).toBe('toeplitz-causal');
      expect(a.fullDepth).toBe(need);
      // after l layers the last query holds the offsets with l base-w digits: w^l of them
      for (let l = 1; l < need; l++) expect(a.receptiveField.last[l - 1]).toBe(w ** l);
    }
  });

  it('random(k): strictly causal, so a token whose draw misses its predecessor never covers its prefix (the seed claims log_k T)', () => {
    for (const [T, k, seed] of [
      [200, 4, 1],
      [300, 8, 2],
    ]) {
      const p = parsePattern(`random(${k}, ${seed})`);
      const blind = [...Array(T).keys()].filter((t) => t > 0 && !p.allows(t, t - 1, 0));
      expect(blind.length).toBeGreaterThan(0);
      const a = check([p], T, 12);
      expect(a.fullDepth).toBeNull();
      expect(Math.min(...a.receptiveField.minCoverage)).toBeLessThan(1);
      expect(a.receptiveField.last[11]).toBeLessThan(T);
    }
    // redrawn at every layer: T−1 learns of T−2 only through a direct edge in some layer
    const T = 400;
    const stack = Array.from({ length: 6 }, (_, l) => parsePattern(`random(4, ${l})`));
    const direct = stack.some((p) => p.allows(T - 1, T - 2, 0));
    const a = check(stack, T, 6);
    if (!direct) expect(a.receptiveField.last[5]).toBeLessThan(T);
    expect(a.fullDepth).toBeNull();
  });

  it('causal and full are complete after one layer', () => {
    const a = analyze('causal', { seqLen: 1000, layers: 3 });
    expect([a.fullDepth, a.saturationDepth]).toEqual([1, 1]);
    expect(a.receptiveField.last).toEqual([1000, 1000, 1000]);
    expect(a.receptiveField.min).toEqual([1, 1, 1]);
    expect(a.receptiveField.minCoverage).toEqual([1, 1, 1]);
    expect(a.density).toBeCloseTo(1001 / 2000, 12);
    const full = analyze('full', { seqLen: 300, layers: 2 });
    expect(full.fullDepth).toBe(1);
    expect(full.receptiveField.min).toEqual([300, 300]);
    expect(full.tileEfficiency).toBe(1);
  });

  it('alternating local and global layers: five sliding layers, then one causal layer', () => {
    const stack = ['sliding(8)', 'sliding(8)', 'sliding(8)', 'sliding(8)', 'sliding(8)', 'causal'];
    const a = analyze(stack, { seqLen: 1000, layers: 8 });
    expect(a.fullDepth).toBe(6);
    expect(a.receptiveField.last.slice(0, 5)).toEqual([8, 15, 22, 29, 36]);
    expect(a.stack).toEqual(stack);
    expect(a.pattern).toBe(stack.join(' ; '));
    // the stack's neighborhoods: sliding rows and causal rows, averaged per layer
    expect(a.neighborhood.max).toBe(1000);
    expect(a.neighborhood.min).toBe(1);
  });

  it('the documented methods are taken for the structured patterns', () => {
    const method = (s: string | string[]) => analyze(s, { seqLen: 300, layers: 2 }).method;
    expect(method('sliding(16)')).toBe('toeplitz-causal');
    expect(method('log')).toBe('toeplitz-causal');
    expect(method('causal')).toBe('toeplitz-causal');
    expect(method('dilated(8, 4)')).toBe('toeplitz-causal');
    expect(method(['dilated(8, 1)', 'dilated(8, 8)', 'log'])).toBe('toeplitz-causal');
    expect(method('window(16, 4)')).toBe('interval');
    expect(method(['window(16, 4)', 'block(32)'])).toBe('interval');
    expect(method('block(32)')).toBe('interval');
    expect(method('full')).toBe('interval');
    expect(method('causal & sliding(8) | sink(2)')).toBe('bfs');
    expect(method(['log', 'window(2, 2)'])).toBe('bit-matrix');
  });

  it('analyzes 65536 tokens exactly for sliding, window, log and dilated stacks', () => {
    const T = 65536;
    const s = analyze('sliding(256)', { seqLen: T, layers: 260 });
    expect([s.fullDepth, s.saturationDepth]).toEqual([257, 257]);
    expect(s.receptiveField.last[0]).toBe(256);
    expect(s.receptiveField.last[99]).toBe(100 * 255 + 1);
    expect(s.receptiveField.last[256]).toBe(T);
    expect(s.edges).toBe(256 * T - (255 * 256) / 2);
    expect(s.neighborhood.max).toBe(256);

    const w = analyze('window(128, 16)', { seqLen: T, layers: 8 });
    expect(w.method).toBe('interval');
    expect(w.receptiveField.last).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((l) => 128 * l + 1));
    expect(w.receptiveField.min).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((l) => 16 * l + 1));
    expect(w.fullDepth).toBeNull();

    const g = analyze('log', { seqLen: T, layers: 64 });
    expect([g.fullDepth, g.saturationDepth]).toEqual([16, 16]);
    expect(g.receptiveField.last[0]).toBe(17);
    expect(g.receptiveField.last[15]).toBe(T);
    expect(g.neighborhood.max).toBe(17);

    const d = analyze(['dilated(16, 1)', 'dilated(16, 16)', 'dilated(16, 256)', 'dilated(16, 4096)'], { seqLen: T, layers: 64 });
    expect([d.fullDepth, d.saturationDepth]).toEqual([4, 4]);

    const c = analyze('causal', { seqLen: T, layers: 2 });
    expect(c.fullDepth).toBe(1);
    expect(c.receptiveField.last).toEqual([T, T]);
    expect(c.edges).toBe((T * (T + 1)) / 2);
  });

  it('follows the requested head of a perHead pattern', () => {
    const p = parsePattern('perHead(sliding(2), causal)');
    expect(analyze(p, { seqLen: 50, layers: 2, head: 0 }).fullDepth).toBeNull();
    expect(analyze(p, { seqLen: 50, layers: 2, head: 1 }).fullDepth).toBe(1);
    expect(analyze(p, { seqLen: 50, layers: 2, head: 3 }).fullDepth).toBe(1);
  });

  it('propagates pattern parse errors', () => {
    expect(() => analyze('sliding(', { seqLen: 8, layers: 1 })).toThrow();
  });
});
