import { describe, expect, it } from 'vitest';
import { analyze, type Analysis } from '../lib/analysis/index.js';
import { IntervalBuffer, MaskRows, scanBitRuns } from '../lib/analysis/rows.js';
import { compileMask } from '../lib/mask/index.js';
import { parsePattern } from '../lib/patterns/index.js';
import type { Pattern } from '../lib/patterns/pattern.js';

// ---------------------------------------------------------------------------------------------
// Local patterns (independent of the pattern library), with exact tile classification so that
// the compiled masks hold full tiles as well as partial ones.

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

let serial = 0;

/** A pattern given by a predicate over positions, classifying tiles by brute force. */
function predicatePattern(name: string, pred: (p: number, j: number) => boolean): Pattern {
  const id = `${name}#${serial++}`;
  return {
    toString: () => id,
    allows: (p, j) => pred(p, j),
    classify(p0, p1, j0, j1) {
      let any = false;
      let all = true;
      for (let p = p0; p < p1; p++) {
        for (let j = j0; j < j1; j++) {
          if (pred(p, j)) any = true;
          else all = false;
        }
      }
      return any ? (all ? 2 : 1) : 0;
    },
    headPeriod: 1,
  };
}

function randomMatrixPattern(T: number, density: number, seed: number): Pattern {
  const r = rng(seed);
  const m = new Uint8Array(T * T);
  for (let k = 0; k < m.length; k++) m[k] = r() < density ? 1 : 0;
  return predicatePattern(`matrix(${T},${density},${seed})`, (p, j) => p >= 0 && p < T && j >= 0 && j < T && m[p * T + j] === 1);
}

/** N(i) = { i − d : d ∈ D, d ≤ i } */
function toeplitzPattern(D: number[]): Pattern {
  const set = new Set(D);
  return predicatePattern(`toeplitz(${D.join(',')})`, (p, j) => j <= p && set.has(p - j));
}

function randomOffsets(seed: number, maxOffset: number): number[] {
  const r = rng(seed);
  const D: number[] = [];
  for (let d = 0; d <= maxOffset; d++) if (r() < 0.3) D.push(d);
  return D;
}

/** N(i) = [L_i, R_i] (optionally without i), random. */
function intervalPattern(T: number, seed: number, monotone: boolean): Pattern {
  const r = rng(seed);
  const L = new Int32Array(T);
  const R = new Int32Array(T);
  const self = new Uint8Array(T);
  for (let i = 0; i < T; i++) {
    L[i] = Math.max(0, i - Math.floor(r() * 6));
    R[i] = Math.min(T - 1, i + Math.floor(r() * 3));
    if (monotone && i > 0) {
      L[i] = Math.max(L[i], L[i - 1]);
      R[i] = Math.max(R[i], R[i - 1]);
    }
    self[i] = r() < 0.8 ? 1 : 0;
  }
  return predicatePattern(`interval(${T},${seed},${monotone})`, (p, j) => p >= 0 && p < T && j >= L[p] && j <= R[p] && (j !== p || self[p] === 1));
}

// ---------------------------------------------------------------------------------------------
// Brute force: the definitions, evaluated with allows() on an explicit T×T reachability matrix.

interface Brute {
  edges: number;
  nmin: number;
  nmax: number;
  last: number[];
  min: number[];
  fullDepth: number | null;
  tileEfficiency: number;
}

function bruteForce(p: Pattern, T: number, layers: number, tile = { blockQ: 128, blockK: 64 }, head = 0): Brute {
  const adj: number[][] = [];
  let edges = 0;
  let nmin = Infinity;
  let nmax = 0;
  for (let i = 0; i < T; i++) {
    const row: number[] = [];
    for (let j = 0; j < T; j++) if (p.allows(i, j, head)) row.push(j);
    adj.push(row);
    edges += row.length;
    nmin = Math.min(nmin, row.length);
    nmax = Math.max(nmax, row.length);
  }
  let rf = new Uint8Array(T * T);
  for (let i = 0; i < T; i++) rf[i * T + i] = 1;
  const sizes = (m: Uint8Array) => {
    const s: number[] = [];
    for (let i = 0; i < T; i++) {
      let c = 0;
      for (let j = 0; j < T; j++) c += m[i * T + j];
      s.push(c);
    }
    return s;
  };
  const last: number[] = [];
  const min: number[] = [];
  let fixedAt = -1;
  for (let l = 1; fixedAt < 0 || l <= layers; l++) {
    const next = rf.slice();
    for (let i = 0; i < T; i++) {
      for (const j of adj[i]) for (let k = 0; k < T; k++) if (rf[j * T + k]) next[i * T + k] = 1;
    }
    let same = true;
    for (let k = 0; k < next.length; k++) if (next[k] !== rf[k]) same = false;
    if (same && fixedAt < 0) fixedAt = l - 1;
    rf = next;
    if (l <= layers) {
      const s = sizes(rf);
      last.push(s[T - 1]);
      min.push(Math.min(...s));
    }
  }
  let computed = 0;
  for (let q0 = 0; q0 < T; q0 += tile.blockQ) {
    for (let k0 = 0; k0 < T; k0 += tile.blockK) {
      const q1 = Math.min(T, q0 + tile.blockQ);
      const k1 = Math.min(T, k0 + tile.blockK);
      let any = false;
      for (let i = q0; i < q1 && !any; i++) for (let j = k0; j < k1 && !any; j++) any = p.allows(i, j, head);
      if (any) computed += (q1 - q0) * (k1 - k0);
    }
  }
  return {
    edges,
    nmin,
    nmax,
    last,
    min,
    fullDepth: fixedAt <= layers ? fixedAt : null,
    tileEfficiency: computed === 0 ? 1 : edges / computed,
  };
}

function expectMatches(a: Analysis, b: Brute, T: number): void {
  expect(a.edges).toBe(b.edges);
  expect(a.density).toBeCloseTo(b.edges / (T * T), 12);
  expect(a.neighborhood.min).toBe(b.nmin);
  expect(a.neighborhood.max).toBe(b.nmax);
  expect(a.neighborhood.mean).toBeCloseTo(b.edges / T, 12);
  expect(a.receptiveField.last).toEqual(b.last);
  expect(a.receptiveField.min).toEqual(b.min);
  expect(a.fullDepth).toBe(b.fullDepth);
  expect(a.tileEfficiency).toBeCloseTo(b.tileEfficiency, 12);
}

const TILES = [
  { blockQ: 128, blockK: 64 },
  { blockQ: 8, blockK: 4 },
  { blockQ: 5, blockK: 3 },
  { blockQ: 3, blockK: 40 },
  { blockQ: 16, blockK: 32 },
];

// ---------------------------------------------------------------------------------------------

describe('mask rows', () => {
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

  it('reads back exactly the allowed keys of each row', () => {
    for (const tile of TILES) {
      for (let seed = 1; seed <= 3; seed++) {
        const T = 37 + seed * 11;
        const p = seed === 2 ? toeplitzPattern([0, 1, 2, 5, 9, 10, 11, 12, 40]) : randomMatrixPattern(T, 0.2 * seed, seed);
        const rows = new MaskRows(compileMask(p, { seqQ: T, seqK: T, ...tile }), 0);
        const buf = new IntervalBuffer(2);
        for (let i = 0; i < T; i++) {
          rows.read(i, buf);
          const got: number[] = [];
          for (let k = 0; k < buf.n; k++) {
            if (k > 0) expect(buf.lo[k]).toBeGreaterThan(buf.hi[k - 1]);
            for (let j = buf.lo[k]; j < buf.hi[k]; j++) got.push(j);
          }
          const want: number[] = [];
          for (let j = 0; j < T; j++) if (p.allows(i, j, 0)) want.push(j);
          expect(got).toEqual(want);
        }
      }
    }
  });
});

describe('analyze: every method agrees with the brute-force definition', () => {
  it('random matrices (general BFS)', () => {
    for (let seed = 1; seed <= 24; seed++) {
      const r = rng(seed * 101);
      const T = 1 + Math.floor(r() * 40);
      const density = [0.02, 0.05, 0.1, 0.3, 0.7][seed % 5];
      const layers = Math.floor(r() * 8);
      const tile = TILES[seed % TILES.length];
      const p = randomMatrixPattern(T, density, seed);
      const b = bruteForce(p, T, layers, tile);
      const a = analyze(p, { seqLen: T, layers, tile });
      expectMatches(a, b, T);
      expectMatches(analyze(p, { seqLen: T, layers, tile, method: 'bfs' }), b, T);
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
      const b = bruteForce(p, T, layers, tile);
      expectMatches(analyze(p, { seqLen: T, layers, tile }), b, T);
      expectMatches(analyze(p, { seqLen: T, layers, tile, method: 'bfs' }), b, T);
    }
  });

  it('translation-invariant causal patterns (toeplitz-causal path)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 7919);
      const T = 1 + Math.floor(r() * 70);
      const D = randomOffsets(seed, Math.floor(r() * 20));
      const layers = Math.floor(r() * 12);
      const tile = TILES[seed % TILES.length];
      const p = toeplitzPattern(D);
      const b = bruteForce(p, T, layers, tile);
      const a = analyze(p, { seqLen: T, layers, tile });
      expect(a.method).toBe('toeplitz-causal');
      expectMatches(a, b, T);
      expectMatches(analyze(p, { seqLen: T, layers, tile, method: 'bfs' }), b, T);
    }
  });

  it('interval neighborhoods, monotone and not (interval path)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 31337);
      const T = 1 + Math.floor(r() * 70);
      const monotone = seed % 2 === 0;
      const layers = Math.floor(r() * 30);
      const tile = TILES[seed % TILES.length];
      const p = intervalPattern(T, seed, monotone);
      const b = bruteForce(p, T, layers, tile);
      const a = analyze(p, { seqLen: T, layers, tile });
      expect(['interval', 'toeplitz-causal']).toContain(a.method);
      expectMatches(a, b, T);
      expectMatches(analyze(p, { seqLen: T, layers, tile, method: 'interval' }), b, T);
      expectMatches(analyze(p, { seqLen: T, layers, tile, method: 'bfs' }), b, T);
    }
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
      const b = bruteForce(p, T, 12);
      const a = analyze(p, { seqLen: T, layers: 12 });
      expect(a.method).not.toBe('toeplitz-causal');
      expectMatches(a, b, T);
      expect(() => analyze(p, { seqLen: T, layers: 3, method: 'toeplitz-causal' })).toThrow(/translation-invariant/);
    }
    const gap = predicatePattern('gap', (i, j) => j === i || j === i - 2);
    expect(analyze(gap, { seqLen: 20, layers: 3 }).method).toBe('toeplitz-causal');
    expect(() => analyze(gap, { seqLen: 20, layers: 3, method: 'interval' })).toThrow(/not intervals/);
    const twoSided = predicatePattern('two', (i, j) => Math.abs(i - j) === 2);
    expect(analyze(twoSided, { seqLen: 20, layers: 3 }).method).toBe('bfs');
  });

  it('edge cases: one token, zero layers, an empty pattern, self-only', () => {
    const empty = predicatePattern('none', () => false);
    const a = analyze(empty, { seqLen: 10, layers: 3 });
    expect(a.edges).toBe(0);
    expect(a.neighborhood).toEqual({ min: 0, mean: 0, max: 0 });
    expect(a.receptiveField).toEqual({ last: [1, 1, 1], min: [1, 1, 1] });
    expect(a.fullDepth).toBe(0);
    expect(a.tileEfficiency).toBe(1);
    const self = predicatePattern('self', (i, j) => i === j);
    expect(analyze(self, { seqLen: 5, layers: 2 }).fullDepth).toBe(0);
    const full = predicatePattern('full', () => true);
    const f0 = analyze(full, { seqLen: 6, layers: 0 });
    expect(f0.receptiveField).toEqual({ last: [], min: [] });
    expect(f0.fullDepth).toBeNull();
    expect(analyze(full, { seqLen: 6, layers: 1 }).fullDepth).toBe(1);
    const one = analyze(full, { seqLen: 1, layers: 2 });
    expect(one.receptiveField).toEqual({ last: [1, 1], min: [1, 1] });
    expect(one.fullDepth).toBe(0);
    expect(one.density).toBe(1);
  });

  it('rejects bad options', () => {
    const full = predicatePattern('full', () => true);
    expect(() => analyze(full, { seqLen: 0, layers: 1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 2.5, layers: 1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: -1 })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: 1, tile: { blockQ: 0, blockK: 4 } })).toThrow(RangeError);
    expect(() => analyze(full, { seqLen: 4, layers: 1, head: -1 })).toThrow(RangeError);
  });

  it('refuses the general method past its work budget instead of running for ever', () => {
    const p = randomMatrixPattern(64, 0.3, 5);
    expect(() => analyze(p, { seqLen: 64, layers: 4, method: 'bfs', maxWork: 1000 })).toThrow(/smaller seqLen/);
  });
});

// ---------------------------------------------------------------------------------------------
// The library's patterns: the seed's claims, and agreement with brute force.

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
  it('sliding(w) grows by w−1 per layer and needs ⌈(T−1)/(w−1)⌉ layers', () => {
    for (const [T, w] of [
      [100, 8],
      [257, 2],
      [1000, 33],
      [4096, 64],
    ]) {
      const need = Math.ceil((T - 1) / (w - 1));
      const a = analyze(`sliding(${w})`, { seqLen: T, layers: need + 2 });
      for (let l = 1; l <= need + 2; l++) expect(a.receptiveField.last[l - 1]).toBe(Math.min(T, l * (w - 1) + 1));
      expect(a.receptiveField.min.every((x) => x === 1)).toBe(true);
      expect(a.fullDepth).toBe(need);
      expect(analyze(`sliding(${w})`, { seqLen: T, layers: need - 1 }).fullDepth).toBeNull();
      expect(a.neighborhood.max).toBe(w);
      expect(a.neighborhood.min).toBe(1);
    }
  });

  it('log reaches the full field within ⌈log2 T⌉ layers', () => {
    for (const T of [2, 3, 16, 100, 1024, 3000]) {
      // exactly: the largest popcount of an offset ≤ T − 1, which is ⌊log2 T⌋ ≤ ⌈log2 T⌉
      const need = Math.floor(Math.log2(T));
      const a = analyze('log', { seqLen: T, layers: need + 1 });
      for (let l = 1; l <= need + 1; l++) expect(a.receptiveField.last[l - 1]).toBe(popcountAtMost(T, l));
      expect(a.fullDepth).toBe(need);
      expect(a.fullDepth).toBeLessThanOrEqual(Math.ceil(Math.log2(T)));
      if (need > 1) expect(analyze('log', { seqLen: T, layers: need - 1 }).fullDepth).toBeNull();
    }
  });

  it('causal is complete after one layer', () => {
    const a = analyze('causal', { seqLen: 1000, layers: 3 });
    expect(a.fullDepth).toBe(1);
    expect(a.receptiveField.last).toEqual([1000, 1000, 1000]);
    expect(a.receptiveField.min).toEqual([1, 1, 1]);
    expect(a.density).toBeCloseTo(1001 / 2000, 12);
    const full = analyze('full', { seqLen: 300, layers: 2 });
    expect(full.fullDepth).toBe(1);
    expect(full.receptiveField.min).toEqual([300, 300]);
    expect(full.tileEfficiency).toBe(1);
  });

  it('named patterns agree with brute force', () => {
    const specs = [
      'full',
      'causal',
      'sliding(4)',
      'window(3, 2)',
      'window(0, 3)',
      'dilated(4, 3)',
      'log',
      'strided(5)',
      'summary(6, 2)',
      'causal & summary(6, 2)',
      'global(0, 17)',
      'sink(3)',
      'causal & sliding(4) | sink(2)',
      'block(7)',
      'docs(10, 25, 30)',
      'prefix(9)',
      'random(3, 7)',
      'randomBlocks(2, 8, 3)',
      'grouped(4, 3)',
      'causal - sliding(3)',
      'causal & (strided(4) | sliding(3))',
      'longformer(3, 0)',
      'longformer(2, 5, 40)',
      'bigbird(2, 1, 3)',
      'sparseTransformer(4)',
      'streaming(2, 3)',
      'dsa(3, 4, 0)',
    ];
    for (const s of specs) {
      const p = parsePattern(s);
      for (const T of [1, 13, 65]) {
        const layers = 6;
        const tile = T === 65 ? { blockQ: 16, blockK: 8 } : { blockQ: 128, blockK: 64 };
        const b = bruteForce(p, T, layers, tile);
        const a = analyze(s, { seqLen: T, layers, tile });
        try {
          expectMatches(a, b, T);
        } catch (e) {
          throw new Error(`${s} at T=${T} (${a.method}): ${(e as Error).message}`);
        }
      }
    }
  });

  it('the documented methods are taken for the structured patterns', () => {
    const method = (s: string) => analyze(s, { seqLen: 300, layers: 2 }).method;
    expect(method('sliding(16)')).toBe('toeplitz-causal');
    expect(method('log')).toBe('toeplitz-causal');
    expect(method('causal')).toBe('toeplitz-causal');
    expect(method('dilated(8, 4)')).toBe('toeplitz-causal');
    expect(method('window(16, 4)')).toBe('interval');
    expect(method('block(32)')).toBe('interval');
    expect(method('full')).toBe('interval');
    expect(method('causal & sliding(8) | sink(2)')).toBe('bfs');
  });

  it('analyzes 65536 tokens exactly for sliding, window and log', () => {
    const T = 65536;
    const s = analyze('sliding(256)', { seqLen: T, layers: 260 });
    expect(s.fullDepth).toBe(257);
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

    const g = analyze('log', { seqLen: T, layers: 17 });
    expect(g.fullDepth).toBe(16);
    expect(g.receptiveField.last[0]).toBe(17);
    expect(g.receptiveField.last[15]).toBe(T);
    expect(g.neighborhood.max).toBe(17);

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
