import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { patterns as P, parsePattern, toPattern, PatternSyntaxError, TileClass, type Pattern } from '../lib/patterns/index.js';
import { PatternNode } from '../lib/patterns/node.js';

// ------------------------------------------------------------------------------------------------
// helpers

/** keys j ∈ [0, n) allowed for position p */
function row(p: Pattern | string, pos: number, n: number, head = 0): number[] {
  const pat = toPattern(p);
  const out: number[] = [];
  for (let j = 0; j < n; j++) if (pat.allows(pos, j, head)) out.push(j);
  return out;
}

function bruteClass(p: Pattern, p0: number, p1: number, j0: number, j1: number, h: number): TileClass {
  let n = 0;
  for (let q = p0; q < p1; q++) for (let j = j0; j < j1; j++) if (p.allows(q, j, h)) n++;
  return n === 0 ? TileClass.Empty : n === (p1 - p0) * (j1 - j0) ? TileClass.Full : TileClass.Partial;
}

const int = (a: number, b: number) => fc.integer({ min: a, max: b });

/** deterministic primitives (classify must be exact) */
const exactPrimitive: fc.Arbitrary<Pattern> = fc.oneof(
  fc.constant(P.full()),
  fc.constant(P.causal()),
  fc.constant(P.log()),
  fc.tuple(int(0, 12), int(0, 6)).map(([l, r]) => P.window(l, r)),
  int(1, 12).map((w) => P.sliding(w)),
  fc.tuple(int(1, 6), int(1, 5)).map(([w, d]) => P.dilated(w, d)),
  int(1, 9).map((s) => P.strided(s)),
  int(1, 8).chain((s) => int(1, s).map((c) => P.summary(s, c))),
  fc.array(int(0, 40), { minLength: 1, maxLength: 4 }).map((g) => P.global(...g)),
  int(1, 10).map((n) => P.sink(n)),
  int(1, 12).map((b) => P.block(b)),
  fc.array(int(1, 20), { minLength: 1, maxLength: 4 }).map((l) => P.docs(...l)),
  int(0, 20).map((n) => P.prefix(n)),
  fc.tuple(int(1, 8), int(0, 10)).map(([s, w]) => P.grouped(s, w)),
);

const randomPrimitive: fc.Arbitrary<Pattern> = fc.oneof(
  fc.tuple(int(1, 4), int(0, 1000)).map(([k, s]) => P.random(k, s)),
  fc.tuple(int(1, 3), int(1, 8), int(0, 1000)).map(([r, b, s]) => P.randomBlocks(r, b, s)),
);

const preset: fc.Arbitrary<Pattern> = fc.oneof(
  fc.tuple(int(1, 12), fc.array(int(0, 40), { maxLength: 2 })).map(([w, g]) => P.longformer(w, ...g)),
  fc.tuple(int(1, 8), int(0, 2), fc.array(int(0, 40), { maxLength: 2 })).map(([w, r, g]) => P.bigbird(w, r, ...g)),
  int(1, 8).map((s) => P.sparseTransformer(s)),
  fc.tuple(int(0, 4), int(1, 10)).map(([s, w]) => P.streaming(s, w)),
  fc.tuple(int(1, 10), int(1, 6), fc.array(int(0, 40), { maxLength: 2 })).map(([w, s, g]) => P.dsa(w, s, ...g)),
);

const leaf = fc.oneof({ weight: 4, arbitrary: exactPrimitive }, { weight: 1, arbitrary: randomPrimitive }, { weight: 1, arbitrary: preset });

const tree: fc.Arbitrary<Pattern> = fc.letrec<{ t: Pattern }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: fc.tuple(tie('t'), tie('t')).map(([a, b]) => P.union(a, b)) },
    { weight: 1, arbitrary: fc.tuple(tie('t'), tie('t')).map(([a, b]) => P.intersect(a, b)) },
    { weight: 1, arbitrary: fc.tuple(tie('t'), tie('t')).map(([a, b]) => P.difference(a, b)) },
    { weight: 1, arbitrary: fc.array(tie('t'), { minLength: 1, maxLength: 3 }).map((ps) => P.perHead(...ps)) },
  ),
})).t;

const rect = fc.tuple(int(-20, 60), int(1, 12), int(0, 60), int(1, 12), int(0, 5));

// ------------------------------------------------------------------------------------------------

describe('SPEC table, hand cases', () => {
  it('full and causal', () => {
    expect(row('full', 3, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(row('causal', 3, 6)).toEqual([0, 1, 2, 3]);
    expect(row('causal', -1, 6)).toEqual([]);
  });
  it('window(left, right = 0)', () => {
    expect(row('window(2)', 5, 10)).toEqual([3, 4, 5]);
    expect(row('window(2, 1)', 5, 10)).toEqual([3, 4, 5, 6]);
    expect(row('window(0)', 5, 10)).toEqual([5]);
    expect(P.window(2).toString()).toBe('window(2)');
    expect(P.window(2, 3).toString()).toBe('window(2, 3)');
  });
  it('sliding(3) at p = 5 allows {3, 4, 5}', () => {
    expect(row('sliding(3)', 5, 10)).toEqual([3, 4, 5]);
    expect(row('sliding(1)', 5, 10)).toEqual([5]);
    expect(row('sliding(3)', 1, 10)).toEqual([0, 1]);
  });
  it('dilated(w, d)', () => {
    expect(row('dilated(3, 2)', 9, 12)).toEqual([5, 7, 9]);
    expect(row('dilated(3, 1)', 9, 12)).toEqual([7, 8, 9]);
  });
  it('log at p = 8 allows {0, 4, 6, 7, 8}', () => {
    expect(row('log', 8, 12)).toEqual([0, 4, 6, 7, 8]);
    expect(row('log', 5, 12)).toEqual([1, 3, 4, 5]);
    expect(row('log', 0, 12)).toEqual([0]);
  });
  it('strided(s)', () => {
    expect(row('strided(3)', 10, 12)).toEqual([1, 4, 7, 10]);
  });
  it('summary(s, c = 1)', () => {
    expect(row('summary(4)', 0, 12)).toEqual([3, 7, 11]);
    expect(row('summary(4, 2)', 0, 12)).toEqual([2, 3, 6, 7, 10, 11]);
    expect(row('summary(4, 4)', 0, 5)).toEqual([0, 1, 2, 3, 4]);
  });
  it('global(g…): row and column', () => {
    expect(row('global(2, 5)', 7, 9)).toEqual([2, 5]);
    expect(row('global(2, 5)', 5, 9)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(P.global(5, 2, 5).toString()).toBe('global(2, 5)');
  });
  it('sink(n): column only', () => {
    expect(row('sink(2)', 7, 9)).toEqual([0, 1]);
    expect(row('sink(2)', 0, 9)).toEqual([0, 1]);
  });
  it('block(b)', () => {
    expect(row('block(4)', 5, 12)).toEqual([4, 5, 6, 7]);
    expect(row('block(4)', -1, 12)).toEqual([]);
  });
  it('docs(len…)', () => {
    expect(row('docs(3, 4, 2)', 4, 12)).toEqual([3, 4, 5, 6]);
    expect(row('docs(3, 4, 2)', 8, 12)).toEqual([7, 8]);
    expect(row('docs(3, 4, 2)', 10, 12)).toEqual([]); // past the last document
    expect(row('docs(3, 4, 2) & causal', 5, 12)).toEqual([3, 4, 5]);
  });
  it('prefix(n)', () => {
    expect(row('prefix(4)', 1, 8)).toEqual([0, 1, 2, 3]);
    expect(row('prefix(4)', 6, 8)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(row('prefix(0)', 2, 8)).toEqual([0, 1, 2]);
  });
  it('random(k, seed): k keys ≤ p, deterministic', () => {
    const a = P.random(3, 7);
    for (const p of [0, 1, 2, 5, 50, 1000]) {
      const r = row(a, p, p + 5);
      expect(r.length).toBe(Math.min(3, p + 1));
      expect(r.every((j) => j <= p)).toBe(true);
      expect(row(P.random(3, 7), p, p + 5)).toEqual(r);
    }
    // different seeds and different positions give different draws (overwhelmingly likely)
    expect(row(P.random(3, 8), 1000, 1001)).not.toEqual(row(a, 1000, 1001));
    expect(row(a, -1, 5)).toEqual([]);
  });
  it('randomBlocks(r, b, seed): r whole blocks among those not ahead', () => {
    const a = P.randomBlocks(2, 4, 1);
    for (const p of [0, 3, 4, 13, 40, 41, 43]) {
      const r = row(a, p, 60);
      const blocks = [...new Set(r.map((j) => Math.floor(j / 4)))];
      expect(blocks.length).toBe(Math.min(2, Math.floor(p / 4) + 1));
      expect(r.length).toBe(blocks.length * 4);
      expect(blocks.every((B) => B <= Math.floor(p / 4))).toBe(true);
    }
    expect(row(a, 40, 60)).toEqual(row(a, 43, 60)); // same query block, same draws
  });
  it('grouped(stride, w)', () => {
    expect(row('grouped(3, 2)', 10, 12)).toEqual([2, 5, 8]);
    expect(row('grouped(3, 0)', 10, 12)).toEqual(row('strided(3)', 10, 12));
  });
  it('combinators and precedence', () => {
    expect(row('causal & sliding(3) | sink(1)', 6, 10)).toEqual([0, 4, 5, 6]);
    expect(row('causal - sliding(2)', 4, 10)).toEqual([0, 1, 2]);
    expect(row('causal - sliding(2) | sink(1) - sink(1)', 4, 10)).toEqual([1, 2]);
    expect(row('causal - (sliding(2) | sink(1))', 4, 10)).toEqual([1, 2]);
  });
  it('presets', () => {
    // longformer: ⌊w/2⌋ on each side, plus global rows and columns
    expect(row('longformer(4)', 5, 10)).toEqual([3, 4, 5, 6, 7]);
    expect(row('longformer(4, 0)', 5, 10)).toEqual([0, 3, 4, 5, 6, 7]);
    expect(row('longformer(4, 0)', 0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // sparseTransformer(s) = sliding(s) | strided(s)
    expect(row('sparseTransformer(3)', 10, 12)).toEqual([1, 4, 7, 8, 9, 10]);
    // streaming(sinks, w) = causal & (sliding(w) | sink(sinks))
    expect(row('streaming(2, 3)', 9, 12)).toEqual([0, 1, 7, 8, 9]);
    expect(row('streaming(2, 3)', 1, 12)).toEqual([0, 1]);
    expect(row('streaming(0, 3)', 9, 12)).toEqual([7, 8, 9]);
    // dsa(w, stride, g…) = causal & (sliding(w) | grouped(stride, w) | global(g…))
    expect(row('dsa(3, 4)', 20, 24)).toEqual([1, 5, 9, 13, 17, 18, 19, 20]);
    expect(row('dsa(3, 4, 0)', 20, 24)).toEqual([0, 1, 5, 9, 13, 17, 18, 19, 20]);
    expect(row('dsa(3, 4, 10)', 10, 24)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(row('dsa(3, 4, 10)', 9, 24)).toEqual([2, 6, 7, 8, 9]);
    // bigbird(w, r, g…) = window(w, w) | randomBlocks(r, w, 0) | global(g…)
    const bb = P.bigbird(4, 1, 0);
    const ref = P.union('window(4, 4)', 'randomBlocks(1, 4, 0)', 'global(0)');
    for (let p = 0; p < 40; p++) expect(row(bb, p, 40)).toEqual(row(ref, p, 40));
    expect(bb.toString()).toBe('bigbird(4, 1, 0)');
  });
  it('negative positions (seqQ > seqK)', () => {
    expect(row('causal', -3, 5)).toEqual([]);
    expect(row('sliding(4)', -2, 5)).toEqual([]);
    expect(row('sliding(4)', 1, 5)).toEqual([0, 1]);
    expect(row('sink(2)', -5, 5)).toEqual([0, 1]);
    expect(row('window(1, 3)', -2, 5)).toEqual([0, 1]);
    expect(row('streaming(2, 4)', -1, 5)).toEqual([]);
    expect(row('prefix(2)', -4, 5)).toEqual([0, 1]);
    expect(row('log', -1, 5)).toEqual([]);
  });
  it('perHead cycles over heads; headPeriod is the lcm', () => {
    const ph = P.perHead('sliding(2)', 'sink(1)', 'causal');
    expect(ph.headPeriod).toBe(3);
    expect(row(ph, 5, 8, 0)).toEqual([4, 5]);
    expect(row(ph, 5, 8, 1)).toEqual([0]);
    expect(row(ph, 5, 8, 2)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(row(ph, 5, 8, 4)).toEqual([0]);
    const u = P.union(P.perHead('sink(1)', 'sink(2)'), P.perHead('log', 'causal', 'full'));
    expect(u.headPeriod).toBe(6);
    expect(P.perHead(P.perHead('sink(1)', 'sink(2)'), 'log').headPeriod).toBe(2);
    expect(P.perHead(P.perHead('sink(1)', 'sink(2)'), 'log', 'full').headPeriod).toBe(6);
    expect(P.causal().headPeriod).toBe(1);
  });
});

describe('classify', () => {
  it('deterministic primitives classify exactly on random rectangles', () => {
    fc.assert(
      fc.property(exactPrimitive, rect, (p, [p0, h, j0, w, head]) => {
        expect(p.classify(p0, p0 + h, j0, j0 + w, head)).toBe(bruteClass(p, p0, p0 + h, j0, j0 + w, head));
      }),
      { numRuns: 3000 },
    );
  });
  it('random primitives and every composition classify soundly', () => {
    fc.assert(
      fc.property(fc.oneof(randomPrimitive, preset, tree), rect, (p, [p0, h, j0, w, head]) => {
        const c = p.classify(p0, p0 + h, j0, j0 + w, head);
        const b = bruteClass(p, p0, p0 + h, j0, j0 + w, head);
        if (c !== TileClass.Partial) expect(c).toBe(b);
      }),
      { numRuns: 1500 },
    );
  });
  it('random patterns are exact where cheap', () => {
    // every row takes all earlier keys while k > p: the tile below the diagonal is full
    expect(P.random(8, 1).classify(0, 4, 0, 1, 0)).toBe(TileClass.Full);
    expect(P.random(2, 1).classify(0, 4, 10, 12, 0)).toBe(TileClass.Empty);
    const rb = P.randomBlocks(1, 4, 3);
    for (let B = 0; B < 10; B++) {
      for (let J = 0; J < 10; J++) {
        expect(rb.classify(4 * B, 4 * B + 4, 4 * J, 4 * J + 4, 0)).toBe(bruteClass(rb, 4 * B, 4 * B + 4, 4 * J, 4 * J + 4, 0));
      }
    }
  });
  it('combinators follow the classification rules', () => {
    const full = P.full();
    const none = P.difference('full', 'full');
    const part = P.causal();
    const c = (p: Pattern) => p.classify(0, 4, 0, 4, 0);
    expect(c(none)).toBe(TileClass.Empty);
    expect(c(part)).toBe(TileClass.Partial);
    expect(c(P.union(part, full))).toBe(TileClass.Full);
    expect(c(P.union(none, none))).toBe(TileClass.Empty);
    expect(c(P.union(part, none))).toBe(TileClass.Partial);
    expect(c(P.intersect(part, none))).toBe(TileClass.Empty);
    expect(c(P.intersect(full, full))).toBe(TileClass.Full);
    expect(c(P.intersect(part, full))).toBe(TileClass.Partial);
    expect(c(P.difference(none, part))).toBe(TileClass.Empty);
    expect(c(P.difference(part, full))).toBe(TileClass.Empty);
    expect(c(P.difference(full, none))).toBe(TileClass.Full);
    expect(c(P.difference(full, part))).toBe(TileClass.Partial);
  });
  it('candidate key ranges cover every allowed key', () => {
    fc.assert(
      fc.property(tree, int(-20, 60), int(1, 16), int(0, 5), (p, p0, h, head) => {
        const ranges = (p as PatternNode).keyRanges(p0, p0 + h, head);
        if (ranges === null) return;
        for (let i = 2; i < ranges.length; i += 2) expect(ranges[i]).toBeGreaterThan(ranges[i - 1]);
        for (let q = p0; q < p0 + h; q++) {
          for (let j = 0; j < 90; j++) {
            if (!p.allows(q, j, head)) continue;
            let inside = false;
            for (let i = 0; i < ranges.length; i += 2) if (ranges[i] <= j && j < ranges[i + 1]) inside = true;
            expect(inside, `${p} p=${q} j=${j} ranges=${ranges}`).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('strings', () => {
  it('parse(toString()) round-trips random patterns', () => {
    fc.assert(
      fc.property(tree, (p) => {
        const s = p.toString();
        const q = parsePattern(s);
        expect(q.toString()).toBe(s);
        expect(q.headPeriod).toBe(p.headPeriod);
        for (let h = 0; h < Math.min(p.headPeriod, 4); h++) {
          for (let pos = -3; pos < 30; pos += 2) {
            for (let j = 0; j < 30; j++) expect(q.allows(pos, j, h)).toBe(p.allows(pos, j, h));
          }
        }
      }),
      { numRuns: 200 },
    );
  });
  it('prints with minimal parentheses and the SPEC precedence', () => {
    const cases: [string, string][] = [
      ['causal & sliding(8) | sink(2)', 'causal & sliding(8) | sink(2)'],
      ['(causal & sliding(8)) | sink(2)', 'causal & sliding(8) | sink(2)'],
      ['causal & (sliding(8) | sink(2))', 'causal & (sliding(8) | sink(2))'],
      ['full - causal - sink(1)', 'full - causal - sink(1)'],
      ['full - (causal - sink(1))', 'full - (causal - sink(1))'],
      ['full | causal - sink(1)', 'full | causal - sink(1)'],
      ['full | (causal - sink(1))', 'full | (causal - sink(1))'],
      ['(full | causal) | log', 'full | causal | log'],
      ['full | (causal | log)', 'full | causal | log'],
      ['  causal&sliding( 8 )|sink(2)  ', 'causal & sliding(8) | sink(2)'],
      ['causal()', 'causal'],
      ['union(causal, sink(2), log)', 'causal | sink(2) | log'],
      ['intersect(causal, sliding(3) | log)', 'causal & (sliding(3) | log)'],
      ['difference(full, causal)', 'full - causal'],
      ['perHead(causal & sliding(4), log | sink(1))', 'perHead(causal & sliding(4), log | sink(1))'],
      ['window(3, 0)', 'window(3)'],
      ['summary(4, 1)', 'summary(4)'],
      ['streaming(4, 1024)', 'streaming(4, 1024)'],
      ['dsa(1024, 64, 0)', 'dsa(1024, 64, 0)'],
      ['longformer(512, 0, 7)', 'longformer(512, 0, 7)'],
      ['bigbird(64, 3, 0, 1)', 'bigbird(64, 3, 0, 1)'],
      ['sparseTransformer(128)', 'sparseTransformer(128)'],
      ['randomBlocks(3, 64, 9)', 'randomBlocks(3, 64, 9)'],
      ['docs(3, 4)', 'docs(3, 4)'],
    ];
    for (const [input, printed] of cases) expect(parsePattern(input).toString()).toBe(printed);
    // & binds tighter than | and -, which associate left
    const a = parsePattern('full - causal | sink(1)');
    expect(a.allows(5, 0, 0)).toBe(true); // (full − causal) | sink(1)
    const b = parsePattern('sink(1) | full - causal');
    expect(b.allows(5, 0, 0)).toBe(false); // (sink(1) | full) − causal
  });
  it('patterns serialize and inspect as their string', () => {
    const p = P.streaming(4, 64);
    expect(JSON.stringify({ p })).toBe('{"p":"streaming(4, 64)"}');
    expect(String(p)).toBe('streaming(4, 64)');
    expect(`${P.union('causal', 'log')}`).toBe('causal | log');
  });
  it('toPattern accepts patterns and strings and rejects the rest', () => {
    const s = P.sliding(4);
    expect(toPattern(s)).toBe(s);
    expect(toPattern('sliding(4)').toString()).toBe('sliding(4)');
    expect(() => toPattern(42 as unknown as string)).toThrow(TypeError);
    expect(() => toPattern(null as unknown as string)).toThrow(TypeError);
    const custom: Pattern = {
      toString: () => 'custom',
      allows: (p, j) => j === p,
      classify: () => TileClass.Partial,
      headPeriod: 1,
    };
    expect(toPattern(custom)).toBe(custom);
    const u = P.union(custom, 'sink(1)');
    expect(u.allows(4, 4, 0)).toBe(true);
    expect(u.allows(4, 0, 0)).toBe(true);
    expect(u.allows(4, 3, 0)).toBe(false);
  });
});

describe('errors', () => {
  function syntaxError(s: string): PatternSyntaxError {
    try {
      parsePattern(s);
    } catch (e) {
      expect(e).toBeInstanceOf(PatternSyntaxError);
      expect(e).toBeInstanceOf(SyntaxError);
      return e as PatternSyntaxError;
    }
    throw new Error(`expected ${JSON.stringify(s)} not to parse`);
  }

  it('points at the offending character and says what was expected', () => {
    const cases: [string, number, RegExp][] = [
      ['', 0, /expected a pattern/],
      ['   ', 3, /expected a pattern/],
      ['sliding()', 8, /expected an integer \(w of sliding\)/],
      ['sliding(', 8, /end of input.*expected an integer/],
      ['sliding(3', 9, /expected ',' or '\)'/],
      ['dilated(3,', 10, /end of input; expected an integer \(d of dilated\)/],
      ['sliding(3,', 10, /sliding takes at most 1 argument/],
      ['sliding(3, 4)', 11, /sliding takes at most 1 argument/],
      ['sliding', 7, /expected '\(' after sliding/],
      ['slidng(3)', 0, /unknown pattern 'slidng' \(did you mean 'sliding'\?\)/],
      ['causal &', 8, /end of input; expected a pattern/],
      ['causal & & sink(1)', 9, /unexpected '&'/],
      ['causal | (sink(1)', 17, /expected '\)'/],
      ['causal)', 6, /unbalanced/],
      ['causal sink(1)', 7, /expected an operator/],
      ['sliding(2.5)', 9, /unexpected '\.' in a number/],
      ['sliding(1e3)', 9, /unexpected 'e' in a number/],
      ['sliding(x)', 8, /expected an integer \(w of sliding\)/],
      ['3 | causal', 0, /expected a pattern/],
      ['causal # sink(1)', 7, /unexpected '#'/],
      ['dilated(3)', 9, /dilated takes 2 arguments \(w, d\), got 1/],
      ['global()', 7, /global takes at least 1 argument/],
      ['perHead()', 8, /perHead takes at least 1 pattern/],
      ['difference(full, causal, log)', 25, /difference takes 2 patterns/],
      ['sliding(99999999999999999999)', 8, /too large/],
      ['log(1)', 4, /log takes no arguments/],
    ];
    for (const [s, pos, re] of cases) {
      const e = syntaxError(s);
      expect(e.position, s).toBe(pos);
      expect(e.message, s).toMatch(re);
      // the caret sits under the offending character
      const lines = e.message.split('\n');
      expect(lines[1]).toBe(`  ${s}`);
      expect(lines[2]).toBe(`  ${' '.repeat(pos)}^`);
    }
  });

  it('range errors inside strings point at the argument', () => {
    const cases: [string, number, RegExp][] = [
      ['sliding(0)', 8, /w must be a positive integer, got 0/],
      ['window(-1)', 7, /left must be a non-negative integer, got -1/],
      ['causal & window(2, -3)', 19, /right must be a non-negative integer/],
      ['strided(0)', 8, /s must be a positive integer/],
      ['summary(4, 5)', 11, /c must be at most s = 4/],
      ['summary(4, 0)', 11, /c must be a positive integer/],
      ['global(1, -2)', 10, /global: position #1/],
      ['docs(3, 0)', 8, /docs: length #1/],
      ['random(2, 4294967296)', 10, /seed must be an integer from 0 to 4294967295/],
      ['randomBlocks(1, 0, 1)', 16, /b must be a positive integer/],
      ['grouped(0, 4)', 8, /stride must be a positive integer/],
      ['dsa(0, 4)', 4, /dsa: w must be a positive integer/],
      ['dsa(8, 4, -1)', 10, /dsa: global position #0/],
      ['streaming(-1, 8)', 10, /sinks must be a non-negative integer/],
      ['longformer(0)', 11, /longformer: w/],
      ['bigbird(8, -1)', 11, /bigbird: r/],
      ['sink(0)', 5, /sink: n must be a positive integer/],
    ];
    for (const [s, pos, re] of cases) {
      const e = syntaxError(s);
      expect(e.position, s).toBe(pos);
      expect(e.message, s).toMatch(re);
    }
  });

  it('parsePattern rejects non-strings with a TypeError', () => {
    expect(() => parsePattern(3 as unknown as string)).toThrow(TypeError);
  });

  it('factory functions check their parameters', () => {
    const bad: [() => unknown, abstract new (...args: never[]) => Error, RegExp][] = [
      [() => P.sliding(-1), RangeError, /sliding: w must be a positive integer, got -1/],
      [() => P.sliding(0), RangeError, /sliding: w/],
      [() => P.sliding(NaN), RangeError, /got NaN/],
      [() => P.sliding(2.5), RangeError, /got 2.5/],
      [() => P.sliding(Infinity), RangeError, /got Infinity/],
      [() => P.sliding('4' as unknown as number), TypeError, /got string "4"/],
      [() => P.window(-1), RangeError, /window: left/],
      [() => P.window(1, -1), RangeError, /window: right/],
      [() => P.window(undefined as unknown as number), TypeError, /window: left/],
      [() => P.dilated(2, 0), RangeError, /dilated: d/],
      [() => P.dilated(0, 2), RangeError, /dilated: w/],
      [() => P.strided(0), RangeError, /zero|strided: s must be a positive integer/],
      [() => P.summary(4, 5), RangeError, /summary: c must be at most s/],
      [() => P.summary(0), RangeError, /summary: s/],
      [() => P.global(), RangeError, /global: needs at least one/],
      [() => P.global(1, -1), RangeError, /global: position #1/],
      [() => P.global(1.5), RangeError, /global: position #0/],
      [() => P.sink(0), RangeError, /sink: n/],
      [() => P.block(0), RangeError, /block: b/],
      [() => P.docs(), RangeError, /docs: needs at least one/],
      [() => P.docs(2, 0), RangeError, /docs: length #1/],
      [() => P.prefix(-1), RangeError, /prefix: n/],
      [() => P.random(0, 1), RangeError, /random: k/],
      [() => P.random(1, -1), RangeError, /random: seed/],
      [() => P.random(1, 2 ** 32), RangeError, /random: seed/],
      [() => P.randomBlocks(1, 0, 1), RangeError, /randomBlocks: b/],
      [() => P.randomBlocks(0, 4, 1), RangeError, /randomBlocks: r/],
      [() => P.grouped(0, 1), RangeError, /grouped: stride/],
      [() => P.grouped(2, -1), RangeError, /grouped: w/],
      [() => P.union(), RangeError, /union: needs at least two/],
      [() => P.intersect(), RangeError, /intersect/],
      [() => P.perHead(), RangeError, /perHead: needs at least one/],
      [() => P.union('causal', 3 as unknown as string), TypeError, /union: expected a Pattern/],
      [() => P.difference('causal', {} as unknown as string), TypeError, /difference/],
      [() => P.union('causal', 'sliding('), PatternSyntaxError, /position 8/],
      [() => P.longformer(0), RangeError, /longformer: w/],
      [() => P.longformer(4, -1), RangeError, /longformer: global position #0/],
      [() => P.bigbird(0, 1), RangeError, /bigbird: w/],
      [() => P.bigbird(4, 1.5), RangeError, /bigbird: r/],
      [() => P.sparseTransformer(0), RangeError, /sparseTransformer: s/],
      [() => P.streaming(-1, 4), RangeError, /streaming: sinks/],
      [() => P.streaming(1, 0), RangeError, /streaming: w/],
      [() => P.dsa(4, 0), RangeError, /dsa: stride/],
      [() => P.dsa(NaN, 4), RangeError, /dsa: w/],
    ];
    for (const [f, E, re] of bad) {
      expect(f).toThrow(E);
      expect(f).toThrow(re);
    }
    // single-pattern union / intersect return the pattern itself
    const s = P.sink(3);
    expect(P.union(s)).toBe(s);
    expect(P.intersect(s)).toBe(s);
  });
});
