/**
 * Independent brute force for the analysis tests: explicit graphs from allows(), receptive fields
 * as explicit T × T sets advanced layer by layer straight from the definition
 * RF_l(i) = RF_{l−1}(i) ∪ ⋃_{j ∈ N_l(i)} RF_{l−1}(j), and random pattern strings.
 */
import type { Pattern } from '../../lib/patterns/pattern.js';

export function rng(seed: number): () => number {
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
export function predicatePattern(name: string, pred: (p: number, j: number) => boolean): Pattern {
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

export function randomMatrixPattern(T: number, density: number, seed: number): Pattern {
  const r = rng(seed);
  const m = new Uint8Array(T * T);
  for (let k = 0; k < m.length; k++) m[k] = r() < density ? 1 : 0;
  return predicatePattern(`matrix(${T},${density},${seed})`, (p, j) => p >= 0 && p < T && j >= 0 && j < T && m[p * T + j] === 1);
}

/** N(i) = { i − d : d ∈ D, d ≤ i } */
export function toeplitzPattern(D: number[]): Pattern {
  const set = new Set(D);
  return predicatePattern(`toeplitz(${D.join(',')})`, (p, j) => j <= p && set.has(p - j));
}

export function randomOffsets(seed: number, maxOffset: number): number[] {
  const r = rng(seed);
  const D: number[] = [];
  for (let d = 0; d <= maxOffset; d++) if (r() < 0.3) D.push(d);
  return D;
}

/** N(i) = [L_i, R_i] (optionally without i), random. */
export function intervalPattern(T: number, seed: number, monotone: boolean): Pattern {
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

export interface Brute {
  edges: number;
  nmin: number;
  nmax: number;
  last: number[];
  min: number[];
  minCoverage: number[];
  fullDepth: number | null;
  saturationDepth: number | null;
  tileEfficiency: number;
}

/**
 * The analysis of a stack (cycled over layers) by definition. `queries`: the queries min,
 * minCoverage, fullDepth and saturationDepth range over (default all).
 */
export function bruteForce(
  stack: Pattern[],
  T: number,
  layers: number,
  tile = { blockQ: 64, blockK: 64 },
  head = 0,
  queries?: number[],
): Brute {
  const m = stack.length;
  const Q = queries ?? Array.from({ length: T }, (_, i) => i);
  const adj: number[][][] = stack.map((p) => {
    const rows: number[][] = [];
    for (let i = 0; i < T; i++) {
      const row: number[] = [];
      for (let j = 0; j < T; j++) if (p.allows(i, j, head)) row.push(j);
      rows.push(row);
    }
    return rows;
  });
  let edges = 0;
  let nmin = Infinity;
  let nmax = 0;
  let computed = 0;
  for (let e = 0; e < m; e++) {
    for (const row of adj[e]) {
      edges += row.length;
      nmin = Math.min(nmin, row.length);
      nmax = Math.max(nmax, row.length);
    }
    for (let q0 = 0; q0 < T; q0 += tile.blockQ) {
      for (let k0 = 0; k0 < T; k0 += tile.blockK) {
        const q1 = Math.min(T, q0 + tile.blockQ);
        const k1 = Math.min(T, k0 + tile.blockK);
        let any = false;
        for (let i = q0; i < q1 && !any; i++) any = adj[e][i].some((j) => j >= k0 && j < k1);
        if (any) computed += (q1 - q0) * (k1 - k0);
      }
    }
  }
  // rf[l][i] = RF_l(i) as a Set, for l = 0 .. layers + m
  const rf: Set<number>[][] = [Array.from({ length: T }, (_, i) => new Set([i]))];
  for (let l = 1; l <= layers + m; l++) {
    const prev = rf[l - 1];
    const rows = adj[(l - 1) % m];
    rf.push(
      prev.map((own, i) => {
        const s = new Set(own);
        for (const j of rows[i]) for (const x of prev[j]) s.add(x);
        return s;
      }),
    );
  }
  const last: number[] = [];
  const min: number[] = [];
  const minCoverage: number[] = [];
  const coverage = (l: number, i: number) => {
    let c = 0;
    for (const x of rf[l][i]) if (x <= i) c++;
    return c / (i + 1);
  };
  for (let l = 1; l <= layers; l++) {
    last.push(rf[l][T - 1].size);
    min.push(Math.min(...Q.map((i) => rf[l][i].size)));
    minCoverage.push(Math.min(...Q.map((i) => coverage(l, i))));
  }
  let fullDepth: number | null = null;
  for (let l = 0; l <= layers && fullDepth === null; l++) if (Q.every((i) => coverage(l, i) === 1)) fullDepth = l;
  let saturationDepth: number | null = null;
  for (let l = 0; l <= layers && saturationDepth === null; l++) {
    // RF only grows, so "no growth through the next m layers" is RF_l = RF_{l+m}
    if (Q.every((i) => rf[l + m][i].size === rf[l][i].size)) saturationDepth = l;
  }
  return {
    edges: edges / m,
    nmin,
    nmax,
    last,
    min,
    minCoverage,
    fullDepth,
    saturationDepth,
    tileEfficiency: computed === 0 ? 1 : edges / computed,
  };
}

function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** A random primitive or preset string for sequences of about T tokens. */
function randomPrimitive(r: () => number, T: number): string {
  const small = () => int(r, 1, Math.max(1, Math.floor(T / 3)));
  switch (int(r, 0, 20)) {
    case 0:
      return 'full';
    case 1:
      return 'causal';
    case 2:
      return `window(${int(r, 0, 6)}, ${int(r, 0, 4)})`;
    case 3:
      return `sliding(${int(r, 1, 9)})`;
    case 4:
      return `dilated(${int(r, 1, 6)}, ${int(r, 1, 5)})`;
    case 5:
      return 'log';
    case 6:
      return `strided(${int(r, 1, 7)})`;
    case 7: {
      const s = int(r, 1, 9);
      return `summary(${s}, ${int(r, 1, s)})`;
    }
    case 8:
      return `global(${int(r, 0, T + 2)}, ${int(r, 0, T)})`;
    case 9:
      return `sink(${int(r, 1, 5)})`;
    case 10:
      return `block(${small()})`;
    case 11:
      return `docs(${small()}, ${small()}, ${small()})`;
    case 12:
      return `prefix(${int(r, 0, T)})`;
    case 13:
      return `random(${int(r, 1, 5)}, ${int(r, 0, 1000)})`;
    case 14:
      return `randomBlocks(${int(r, 1, 3)}, ${int(r, 1, 8)}, ${int(r, 0, 1000)})`;
    case 15:
      return `grouped(${int(r, 1, 5)}, ${int(r, 0, 6)})`;
    case 16:
      return `longformer(${int(r, 1, 6)}, ${int(r, 0, T)})`;
    case 17:
      return `bigbird(${int(r, 1, 4)}, ${int(r, 1, 2)}, ${int(r, 0, T)})`;
    case 18:
      return `sparseTransformer(${int(r, 1, 6)})`;
    case 19:
      return `streaming(${int(r, 1, 3)}, ${int(r, 1, 6)})`;
    default:
      return `dsa(${int(r, 1, 5)}, ${int(r, 1, 4)}, ${int(r, 0, T)})`;
  }
}

/** A random composition: primitives joined by |, &, - and perHead, nested up to `depth`. */
export function randomPatternString(r: () => number, T: number, depth = 3): string {
  if (depth === 0 || r() < 0.35) return randomPrimitive(r, T);
  const a = randomPatternString(r, T, depth - 1);
  const b = randomPatternString(r, T, depth - 1);
  switch (int(r, 0, 3)) {
    case 0:
      return `(${a}) | (${b})`;
    case 1:
      return `(${a}) & (${b})`;
    case 2:
      return `(${a}) - (${b})`;
    default:
      return `perHead(${a}, ${b})`;
  }
}
