import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { patterns as P, toPattern, TileClass, type Pattern } from '../lib/patterns/index.js';
import { compileMask, clearMaskCache, type BlockMask } from '../lib/mask/index.js';
import { expandMask as expand } from './helpers/blockmask.js';

// ------------------------------------------------------------------------------------------------
// helpers

function brute(p: Pattern, seqQ: number, seqK: number, head: number): Uint8Array {
  const out = new Uint8Array(seqQ * seqK);
  for (let i = 0; i < seqQ; i++) {
    const pos = i + seqK - seqQ;
    for (let j = 0; j < seqK; j++) if (p.allows(pos, j, head)) out[i * seqK + j] = 1;
  }
  return out;
}

function firstDiff(a: Uint8Array, b: Uint8Array, seqK: number): string | null {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return `i=${Math.floor(k / seqK)} j=${k % seqK} mask=${a[k]} pattern=${b[k]}`;
  return null;
}

/** compiles and compares every head with the predicate */
function check(p: Pattern | string, seqQ: number, seqK: number, blockQ: number, blockK: number, heads?: number): BlockMask {
  const pat = toPattern(p);
  const m = compileMask(pat, { seqQ, seqK, blockQ, blockK, heads });
  const H = pat.headPeriod > 1 ? (heads ?? pat.headPeriod) : 1;
  expect(m.heads).toBe(H);
  for (let h = 0; h < Math.max(H, heads ?? 1); h++) {
    const diff = firstDiff(expand(m, h), brute(pat, seqQ, seqK, h), seqK);
    expect(diff, `${pat} seqQ=${seqQ} seqK=${seqK} tile=${blockQ}x${blockK} head=${h}`).toBeNull();
  }
  return m;
}

const int = (a: number, b: number) => fc.integer({ min: a, max: b });

const primitive: fc.Arbitrary<Pattern> = fc.oneof(
  fc.constant(P.full()),
  fc.constant(P.causal()),
  fc.constant(P.log()),
  fc.tuple(int(0, 40), int(0, 10)).map(([l, r]) => P.window(l, r)),
  int(1, 40).map((w) => P.sliding(w)),
  fc.tuple(int(1, 8), int(1, 7)).map(([w, d]) => P.dilated(w, d)),
  int(1, 20).map((s) => P.strided(s)),
  int(1, 16).chain((s) => int(1, s).map((c) => P.summary(s, c))),
  fc.array(int(0, 90), { minLength: 1, maxLength: 4 }).map((g) => P.global(...g)),
  int(1, 12).map((n) => P.sink(n)),
  int(1, 24).map((b) => P.block(b)),
  fc.array(int(1, 30), { minLength: 1, maxLength: 5 }).map((l) => P.docs(...l)),
  int(0, 30).map((n) => P.prefix(n)),
  fc.tuple(int(1, 4), int(0, 1000)).map(([k, s]) => P.random(k, s)),
  fc.tuple(int(1, 3), int(1, 16), int(0, 1000)).map(([r, b, s]) => P.randomBlocks(r, b, s)),
  fc.tuple(int(1, 16), int(0, 20)).map(([s, w]) => P.grouped(s, w)),
  fc.tuple(int(1, 24), fc.array(int(0, 90), { maxLength: 2 })).map(([w, g]) => P.longformer(w, ...g)),
  fc.tuple(int(1, 12), int(0, 2), fc.array(int(0, 90), { maxLength: 2 })).map(([w, r, g]) => P.bigbird(w, r, ...g)),
  int(1, 12).map((s) => P.sparseTransformer(s)),
  fc.tuple(int(0, 4), int(1, 20)).map(([s, w]) => P.streaming(s, w)),
  fc.tuple(int(1, 20), int(1, 12), fc.array(int(0, 90), { maxLength: 2 })).map(([w, s, g]) => P.dsa(w, s, ...g)),
);

const tree: fc.Arbitrary<Pattern> = fc.letrec<{ t: Pattern }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: primitive },
    { weight: 1, arbitrary: fc.tuple(tie('t'), tie('t')).map(([a, b]) => P.union(a, b)) },
    { weight: 1, arbitrary: fc.tuple(tie('t'), tie('t')).map(([a, b]) => P.intersect(a, b)) },
    { weight: 1, arbitrary: fc.tuple(tie('t'), tie('t')).map(([a, b]) => P.difference(a, b)) },
    { weight: 1, arbitrary: fc.array(tie('t'), { minLength: 1, maxLength: 3 }).map((ps) => P.perHead(...ps)) },
  ),
})).t;

const TILE_SHAPES: [number, number][] = [
  [1, 1],
  [3, 5],
  [16, 16],
  [64, 32],
  [128, 64],
  [4, 8],
  [8, 33],
];

// ------------------------------------------------------------------------------------------------

describe('compileMask = brute-force predicate', () => {
  it('random compositions, shapes and tile shapes', () => {
    fc.assert(
      fc.property(
        tree,
        int(1, 90),
        int(1, 90),
        fc.constantFrom(...TILE_SHAPES),
        fc.option(int(1, 5), { nil: undefined }),
        (p, seqQ, seqK, [bq, bk], heads) => {
          clearMaskCache();
          check(p, seqQ, seqK, bq, bk, heads);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('long rows with small tiles (runs of equal tiles)', () => {
    fc.assert(
      fc.property(tree, int(1, 40), int(100, 400), fc.constantFrom<[number, number]>([4, 4], [8, 8], [2, 16], [16, 4], [5, 12]), (p, seqQ, seqK, [bq, bk]) => {
        check(p, seqQ, seqK, bq, bk);
      }),
      { numRuns: 150 },
    );
  });

  it('every primitive and preset on fixed shapes', () => {
    const list = [
      'full', 'causal', 'log', 'window(5)', 'window(3, 4)', 'sliding(7)', 'dilated(4, 3)', 'strided(5)', 'summary(6, 2)',
      'global(0, 17, 40)', 'sink(3)', 'block(9)', 'docs(10, 25, 7)', 'prefix(12)', 'random(3, 5)', 'randomBlocks(2, 8, 3)',
      'grouped(4, 6)', 'longformer(10, 0)', 'bigbird(8, 2, 0)', 'sparseTransformer(8)', 'streaming(4, 16)', 'dsa(16, 8, 0)',
      'causal & sliding(8) | sink(2)', 'full - causal', 'perHead(causal, sliding(4), log)', 'causal & (docs(20, 30) | global(5))',
      // local patterns next to broad ones, so that rows are walked from key 0 through empty runs
      'summary(4)', 'summary(8, 3)', 'dilated(4, 3) | summary(5)', 'sliding(5) | strided(7)', 'window(6, 2) | global(3)',
      'dilated(4, 3) | summary(8, 3)', 'window(5, 1) | summary(4, 3)', 'dilated(3, 2) - sink(1) | strided(4) - causal', 'log | summary(4)', 'block(6) | sink(2) | summary(8, 3)', 'docs(10, 20) | summary(7)', 'prefix(5) | grouped(3, 4) & summary(4)',
      'randomBlocks(1, 4, 2) | summary(9)', 'random(2, 3) | summary(4)', 'full - strided(4)', 'summary(16, 5) - sliding(9)',
    ];
    const shapes: [number, number][] = [[64, 64], [40, 64], [64, 40], [1, 77], [77, 1], [65, 63]];
    for (const s of list) {
      for (const [seqQ, seqK] of shapes) {
        for (const [bq, bk] of TILE_SHAPES) check(s, seqQ, seqK, bq, bk, 3);
      }
    }
  });

  it('queries before key 0 (seqQ > seqK) get empty rows under causal', () => {
    const m = check('causal', 10, 4, 2, 2);
    // rows 0..5 sit at positions −6..−1
    expect(m.rowPtr[3]).toBe(0);
    check('streaming(2, 3)', 9, 5, 4, 4);
  });

  it('decoding: one query against a long cache', () => {
    for (const s of ['causal & sliding(16) | sink(4)', 'dsa(16, 8, 0)', 'log', 'random(2, 9)']) check(s, 1, 300, 1, 64);
  });
});

describe('compileMask structure', () => {
  it('per-head masks: heads × numQBlocks rows, head h follows head h mod period', () => {
    const p = P.perHead('sliding(4)', 'sink(2)');
    const m = check(p, 20, 20, 8, 8, 5);
    expect(m.heads).toBe(5);
    expect(m.rowPtr.length).toBe(5 * 3 + 1);
    const rowsOf = (h: number) => Array.from(m.colIdx.subarray(m.rowPtr[h * 3], m.rowPtr[h * 3 + 3]));
    expect(rowsOf(2)).toEqual(rowsOf(0));
    expect(rowsOf(3)).toEqual(rowsOf(1));
    // default: one period of heads
    expect(compileMask(p, { seqQ: 20, seqK: 20, blockQ: 8, blockK: 8 }).heads).toBe(2);
    // fewer heads than the period
    expect(compileMask(P.perHead('causal', 'log', 'full'), { seqQ: 20, seqK: 20, blockQ: 8, blockK: 8, heads: 2 }).heads).toBe(2);
  });

  it('shared patterns give one mask whatever heads says', () => {
    expect(compileMask('causal', { seqQ: 20, seqK: 20, blockQ: 8, blockK: 8, heads: 12 }).heads).toBe(1);
  });

  it('full tiles need no bits; only partial tiles are stored', () => {
    const m = compileMask('causal', { seqQ: 256, seqK: 256, blockQ: 64, blockK: 64 });
    expect(m.colIdx.length).toBe(4 + 3 + 2 + 1);
    let partial = 0;
    for (const t of m.partial) if (t >= 0) partial++;
    expect(partial).toBe(4);
    expect(m.bits.length).toBe(64 * 2); // the 4 diagonal tiles are equal: one bit tile
    expect(Array.from(m.colIdx)).toEqual([0, 0, 1, 0, 1, 2, 0, 1, 2, 3]);
    const f = compileMask('full', { seqQ: 100, seqK: 100, blockQ: 64, blockK: 64 });
    expect(Array.from(f.partial)).toEqual([-1, -1, -1, -1]);
    expect(f.bits.length).toBe(0);
  });

  it('a partial tile that turns out all-set is stored as full, an empty one dropped', () => {
    // sliding(4) | (causal - sliding(4)) is causal, but classified Partial off the diagonal
    const m = compileMask(P.union('sliding(4)', P.difference('causal', 'sliding(4)')), { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16 });
    const c = compileMask('causal', { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16 });
    expect(Array.from(m.colIdx)).toEqual(Array.from(c.colIdx));
    expect(Array.from(m.partial).map((t) => t < 0)).toEqual(Array.from(c.partial).map((t) => t < 0));
    const e = compileMask(P.intersect('strided(2)', P.difference('causal', 'strided(2)')), { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16 });
    expect(e.colIdx.length).toBe(0);
  });

  it('user-written Patterns compile through allows/classify', () => {
    const custom: Pattern = {
      toString: () => 'every third',
      allows: (p, j) => j <= p && (p + j) % 3 === 0,
      classify: (p0, p1, j0) => (j0 > p1 - 1 ? TileClass.Empty : TileClass.Partial),
      headPeriod: 1,
    };
    check(custom, 30, 40, 4, 8);
    check(P.union(custom, 'sink(2)'), 30, 40, 4, 8);
    // not cached: its toString is not trusted
    const a = compileMask(custom, { seqQ: 8, seqK: 8, blockQ: 4, blockK: 4 });
    expect(compileMask(custom, { seqQ: 8, seqK: 8, blockQ: 4, blockK: 4 })).not.toBe(a);
  });

  it('cache: same arguments give the same mask; bounded LRU; clearMaskCache', () => {
    clearMaskCache();
    const opts = { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16 };
    const a = compileMask('causal & sliding(8)', opts);
    expect(compileMask(P.intersect('causal', 'sliding(8)'), opts)).toBe(a);
    expect(compileMask('causal & sliding(8)', { ...opts, blockK: 8 })).not.toBe(a);
    expect(compileMask('causal & sliding(8)', { ...opts, seqQ: 32 })).not.toBe(a);
    for (let w = 1; w <= 70; w++) compileMask(`sliding(${w})`, opts);
    expect(compileMask('causal & sliding(8)', opts)).not.toBe(a); // evicted
    const b = compileMask('causal & sliding(8)', opts);
    expect(compileMask('causal & sliding(8)', opts)).toBe(b);
    clearMaskCache();
    expect(compileMask('causal & sliding(8)', opts)).not.toBe(b);
    // per-head masks are keyed by heads too
    const h2 = compileMask('perHead(causal, log)', { ...opts, heads: 2 });
    const h4 = compileMask('perHead(causal, log)', { ...opts, heads: 4 });
    expect(h2).not.toBe(h4);
    expect(h4.heads).toBe(4);
  });

  it('validates options', () => {
    const ok = { seqQ: 8, seqK: 8, blockQ: 4, blockK: 4 };
    const bad: [Record<string, unknown>, abstract new (...args: never[]) => Error, RegExp][] = [
      [{ ...ok, seqQ: 0 }, RangeError, /seqQ must be a positive integer, got 0/],
      [{ ...ok, seqK: -1 }, RangeError, /seqK/],
      [{ ...ok, blockQ: 2.5 }, RangeError, /blockQ/],
      [{ ...ok, blockK: NaN }, RangeError, /blockK/],
      [{ ...ok, heads: 0 }, RangeError, /heads/],
      [{ ...ok, seqQ: '8' }, TypeError, /seqQ/],
      [{ seqQ: 8, seqK: 8, blockQ: 4 }, TypeError, /blockK/],
    ];
    for (const [o, E, re] of bad) {
      const f = () => compileMask('causal', o as unknown as Parameters<typeof compileMask>[1]);
      expect(f).toThrow(E);
      expect(f).toThrow(re);
    }
    expect(() => compileMask('causal', undefined as unknown as Parameters<typeof compileMask>[1])).toThrow(TypeError);
    expect(() => compileMask(3 as unknown as string, ok)).toThrow(TypeError);
    expect(() => compileMask('causal &', ok)).toThrow(SyntaxError);
  });

  it('large sequences cost visited tiles, not seqQ·seqK', () => {
    // 2^20 keys: a dense evaluation would be 10^12 pairs
    const n = 1 << 20;
    const m = compileMask('causal & sliding(256) | sink(4)', { seqQ: n, seqK: n, blockQ: 128, blockK: 128 });
    expect(m.numQBlocks).toBe(8192);
    expect(m.colIdx.length).toBeLessThan(8192 * 5);
    const d = compileMask('dsa(64, 16, 0)', { seqQ: 1, seqK: n, blockQ: 1, blockK: 64 });
    expect(d.colIdx.length).toBe(n / 64);
  });
});
