/**
 * The limits and checks added when the bugs pinned in known-issues.test.ts were fixed: host tensor
 * sizes, values of Tensor.fromFloat32, how bad values are shown in messages, formatInfo's argument,
 * nesting in patterns, and the bounds of compileMask.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_HOST_ELEMENTS, Tensor } from '../../lib/tensor.js';
import { describeValue } from '../../lib/describe.js';
import { parsePattern, patterns as P, PatternSyntaxError, TileClass } from '../../lib/patterns/index.js';
import { MAX_PATTERN_DEPTH } from '../../lib/patterns/node.js';
import { compileMask } from '../../lib/mask/index.js';
import { MAX_MASK_BLOCK, MAX_MASK_HEADS, MAX_MASK_SEQ, MAX_MASK_TILE_BITS } from '../../lib/mask/compile.js';
import { analyze } from '../../lib/analysis/index.js';
import { renderMask } from '../../lib/render/index.js';
import { formatInfo, info } from '../../lib/info.js';
import { unclear } from './fuzz.js';

/** The error fn throws (fails the test if it returns). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

/** thrown(fn), checked to be a clear error of class E whose message matches re. */
function clear(fn: () => unknown, E: new (...a: never[]) => Error, re: RegExp): Error {
  const e = thrown(fn);
  expect(unclear(e)).toBeNull();
  expect(e).toBeInstanceOf(E);
  expect(e.message).toMatch(re);
  return e;
}

describe('host tensor sizes', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('the limit is the typed-array limit of this Node, at most 2^32 − 1 elements', () => {
    expect(MAX_HOST_ELEMENTS).toBeLessThanOrEqual(2 ** 32 - 1);
    expect(MAX_HOST_ELEMENTS).toBeGreaterThanOrEqual(2 ** 30);
  });

  it('every host constructor refuses a shape past it, naming itself, the shape and the limit', () => {
    const shape = [2 ** 16, 2 ** 16]; // 2^32 elements: one past the limit, yet a safe integer
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      clear(() => Tensor.zeros(shape, { dtype }), RangeError, new RegExp(`^Tensor\\.zeros: shape \\[65536, 65536\\] has 4294967296 elements, more than a ${dtype} tensor can hold \\(max ${MAX_HOST_ELEMENTS}\\)`));
      clear(() => Tensor.randn(shape, { dtype, seed: 1 }), RangeError, /^Tensor\.randn: shape \[65536, 65536\] has 4294967296 elements/);
    }
    clear(() => Tensor.zeros([2 ** 20, 2 ** 20, 4]), RangeError, /Tensor\.zeros: shape \[1048576, 1048576, 4\] has 4398046511104 elements/);
    // before reading the values (an array-like claiming 2^33 of them)
    clear(() => Tensor.fromFloat32({ length: 2 ** 33 } as ArrayLike<number>, [2 ** 33]), RangeError, /^Tensor\.fromFloat32: shape \[8589934592\] has/);
  });

  it('a failed allocation of an allowed size is a RangeError naming the shape and the bytes', () => {
    class Refusing extends Float32Array {
      constructor(...args: unknown[]) {
        if (args[0] === 2 ** 28) throw new RangeError('Array buffer allocation failed');
        super(...(args as []));
      }
    }
    vi.stubGlobal('Float32Array', Refusing);
    clear(() => Tensor.zeros([2 ** 14, 2 ** 14]), RangeError, /^Tensor\.zeros: cannot allocate a float32 tensor of shape \[16384, 16384\] \(1073741824 bytes, 1\.0 GiB\)/);
    clear(() => Tensor.randn([2 ** 28], { seed: 1 }), RangeError, /^Tensor\.randn: cannot allocate a float32 tensor of shape \[268435456\] \(1073741824 bytes/);
  });

  it('randn draws the same values for every dtype (16-bit ones are rounded from float32)', () => {
    const f = Tensor.randn([3, 5000], { seed: 7 });
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const h = Tensor.randn([3, 5000], { seed: 7, dtype });
      expect(h.toFloat32()).toEqual(Tensor.fromFloat32(f.data, [3, 5000], { dtype }).toFloat32());
    }
    expect(Tensor.randn([0, 4], { seed: 1, dtype: 'float16' }).size).toBe(0);
  });
});

describe('Tensor.fromFloat32 values', () => {
  it('a non-number among the values is a TypeError naming values and its index', () => {
    const bad: [unknown, RegExp][] = [
      [2n, /got 2n$/],
      ['2', /got "2"$/],
      [null, /got null$/],
      [undefined, /got undefined$/],
      [{}, /got an object$/],
      [Object.create(null), /got an object$/],
      [Symbol('s'), /got Symbol\(s\)$/],
    ];
    for (const [v, re] of bad) {
      const e = clear(() => Tensor.fromFloat32([1, 2, v as number], [3]), TypeError, /^Tensor\.fromFloat32: values\[2\] must be a number, got /);
      expect(e.message).toMatch(re);
    }
    // a hole reads as undefined
    clear(() => Tensor.fromFloat32([1, , 3] as number[], [3]), TypeError, /values\[1\] must be a number, got undefined/);
    clear(() => Tensor.fromFloat32({ length: 2, 0: 1, 1: 'x' } as unknown as ArrayLike<number>, [2]), TypeError, /values\[1\]/);
    clear(() => Tensor.fromFloat32(new BigInt64Array(2) as unknown as Float64Array, [2]), TypeError, /^Tensor\.fromFloat32: values must hold numbers, got a BigInt64Array/);
  });

  it('typed arrays of numbers and plain number arrays still convert', () => {
    expect([...Tensor.fromFloat32(new Float64Array([1.5, -2]), [2]).data]).toEqual([1.5, -2]);
    expect([...Tensor.fromFloat32(new Int8Array([3, -4]), [2]).toFloat32()]).toEqual([3, -4]);
    expect([...Tensor.fromFloat32([0.5, NaN, Infinity], [3], { dtype: 'bfloat16' }).toFloat32()]).toEqual([0.5, NaN, Infinity]);
    const big = new Float64Array(1 << 20).fill(0.25);
    expect(Tensor.fromFloat32(big, [1 << 20], { dtype: 'float16' }).toFloat32()[12345]).toBe(0.25);
  });
});

describe('describeValue: bad values in messages', () => {
  it('describes every kind of value without running user code or throwing', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const hostile = {
      toString() {
        throw new Error('toString ran');
      },
      valueOf() {
        throw new Error('valueOf ran');
      },
    };
    const cases: [unknown, string][] = [
      [5, '5'],
      [-0, '-0'],
      [NaN, 'NaN'],
      [-Infinity, '-Infinity'],
      ['causal', '"causal"'],
      [true, 'true'],
      [null, 'null'],
      [undefined, 'undefined'],
      [5n, '5n'],
      [Symbol('x'), 'Symbol(x)'],
      [() => 1, 'a function'],
      [[1, 2], 'an array'],
      [{}, 'an object'],
      [Object.create(null), 'an object'],
      [hostile, 'an object'],
      [revoked.proxy, 'an object'],
      [new Date(0), 'an object'],
      [new Float32Array(2), 'a Float32Array'],
      [new Int8Array(2), 'an Int8Array'],
      [new DataView(new ArrayBuffer(4)), 'a DataView'],
    ];
    for (const [v, s] of cases) expect(describeValue(v)).toBe(s);
    expect(describeValue('x'.repeat(1000)).length).toBeLessThan(100);
  });

  it('analyze, renderMask, compileMask and the pattern factories show bad options with it', () => {
    const shown: [unknown, string][] = [
      [{}, 'an object'],
      [Object.create(null), 'an object'],
      [[8], 'an array'],
      [8n, '8n'],
      [Symbol('n'), 'Symbol(n)'],
      [() => 8, 'a function'],
    ];
    for (const [v, s] of shown) {
      const tail = new RegExp(`got ${s.replace(/[()]/g, '\\$&')}$`);
      clear(() => analyze('causal', { seqLen: v as number, layers: 1 }), RangeError, tail);
      clear(() => analyze('causal', { seqLen: 8, layers: 1, method: v as 'bfs' }), RangeError, /^analyze: method must be/);
      clear(() => renderMask('causal', { seqLen: v as number }), RangeError, tail);
      clear(() => renderMask('causal', { seqLen: 8, format: v as 'svg' }), RangeError, tail);
      clear(() => compileMask('causal', { seqQ: v as number, seqK: 8, blockQ: 4, blockK: 4 }), TypeError, tail);
      clear(() => P.sliding(v as number), TypeError, /^sliding: w must be a positive integer, got /);
    }
    // tile: null means no tile in renderMask, and the backend's tile in analyze (it used to read null.blockQ)
    expect(renderMask('causal', { seqLen: 8, format: 'svg', tile: null as never })).toMatch(/^<svg/);
    const a = analyze('causal', { seqLen: 8, layers: 1, tile: null as never });
    expect(a.tile).toEqual(analyze('causal', { seqLen: 8, layers: 1 }).tile);
    expect(a.tileSource).not.toBe('option');
  });
});

describe('formatInfo argument', () => {
  const good = info();

  it('anything but an info() result is a TypeError saying so', () => {
    const bad: unknown[] = [
      undefined,
      null,
      5,
      'info',
      [],
      {},
      Object.create(null),
      { ...good, version: 1 },
      { ...good, backends: null },
      { ...good, backends: { ...good.backends, cpu: 4 } },
      { ...good, backends: { ...good.backends, cpu: { available: 'yes' } } },
      { ...good, backends: { ...good.backends, cpu: { ...good.backends.cpu, simd: 'avx2' } } },
      { ...good, backends: { ...good.backends, cpu: { available: false, reason: Object.create(null) } } },
      { ...good, backends: { ...good.backends, cuda: { ...good.backends.cuda, available: true, devices: [{}] } } },
      { ...good, backends: { ...good.backends, cuda: { ...good.backends.cuda, available: true, devices: null } } },
    ];
    for (const x of bad) clear(() => formatInfo(x as never), TypeError, /^formatInfo: expected the object info\(\) returns, got /);
    expect(thrown(() => formatInfo({ ...good, backends: { ...good.backends, cpu: 4 } } as never)).message).toMatch(/backends\.cpu is 4$/);
  });

  it('formats info() and an info with CUDA devices', () => {
    expect(formatInfo(good)).toContain('reference:');
    const withGpu = {
      ...good,
      backends: {
        ...good.backends,
        cuda: { available: true, compiled: true, runtimeVersion: 12040, driverVersion: 12040, devices: [{ index: 0, name: 'GPU', computeCapability: '9.0', totalMemory: 2 ** 34, multiprocessors: 132 }] },
      },
    };
    expect(formatInfo(withGpu)).toContain('cuda:0: GPU, compute capability 9.0, 16.0 GiB, 132 SMs');
  });
});

describe('pattern nesting', () => {
  it(`parentheses nest up to ${MAX_PATTERN_DEPTH} deep; one more is a PatternSyntaxError at that '('`, () => {
    const n = MAX_PATTERN_DEPTH;
    expect(String(parsePattern('('.repeat(n) + 'causal' + ')'.repeat(n)))).toBe('causal');
    const e = thrown(() => parsePattern('('.repeat(n + 1) + 'causal' + ')'.repeat(n + 1)));
    expect(e).toBeInstanceOf(PatternSyntaxError);
    expect((e as PatternSyntaxError).position).toBe(n);
    expect(e.message).toMatch(/nested more than 256 deep/);
    // pattern arguments count too: the '(' of the call that goes past
    // (unions of unions are flattened, so this nests the string but not the tree)
    const calls = (k: number) => 'union(full, '.repeat(k) + 'causal' + ')'.repeat(k);
    expect((parsePattern(calls(n)) as unknown as { parts: unknown[] }).parts.length).toBe(n + 1);
    const c = thrown(() => parsePattern(calls(n + 1)));
    expect(c).toBeInstanceOf(PatternSyntaxError);
    expect((c as PatternSyntaxError).position).toBe('union(full, '.length * n + 'union'.length);
    expect(c.message).toMatch(/nested more than 256 deep/);
  });

  it('10000-term unions and intersections parse (flat) and print back', () => {
    const terms = Array.from({ length: 10000 }, (_, i) => `sliding(${i + 1})`);
    for (const op of [' | ', ' & ']) {
      const s = terms.join(op);
      const p = parsePattern(s) as unknown as { parts: unknown[] };
      expect(p.parts.length).toBe(10000);
      expect(String(p)).toBe(s);
    }
    expect(parsePattern(Array(10000).fill('causal').join('|')).allows(5, 3, 0)).toBe(true);
    // mixed with differences: `|` and `-` still associate left
    expect(String(parsePattern('causal | sink(1) - sink(2) | log'))).toBe('causal | sink(1) - sink(2) | log');
    const mixed = parsePattern('causal & sliding(4) | sink(2) - global(3) | log & full');
    expect(String(mixed)).toBe('causal & sliding(4) | sink(2) - global(3) | log & full');
    expect(mixed.allows(10, 3, 0)).toBe(false); // key 3 is global(3), taken out by the difference; 10 − 3 is no power of two
    expect(mixed.allows(10, 2, 0)).toBe(true); // 10 − 2 = 8: log
    expect(mixed.allows(10, 1, 0)).toBe(true); // sink
  });

  it(`pattern trees nest up to ${MAX_PATTERN_DEPTH} levels, and still compile and print`, () => {
    const n = MAX_PATTERN_DEPTH;
    const s = 'causal' + ' - sink(1)'.repeat(n - 1);
    const p = parsePattern(s);
    expect(String(p)).toBe(s);
    expect(compileMask(p, { seqQ: 100, seqK: 100, blockQ: 8, blockK: 8 }).numQBlocks).toBe(13);
    expect(p.allows(5, 0, 0)).toBe(false);
    const e = thrown(() => parsePattern(s + ' - sink(1)'));
    expect(e).toBeInstanceOf(PatternSyntaxError);
    expect((e as PatternSyntaxError).position).toBe(s.length + 1);
    expect(e.message).toMatch(/at most 256 levels deep/);
    // alternating | and - nests too
    const alt = Array.from({ length: 600 }, (_, i) => (i % 2 ? 'sink(1)' : 'causal')).join(' - ').replace(/ - causal/g, ' | causal');
    expect(thrown(() => parsePattern(alt))).toBeInstanceOf(PatternSyntaxError);
    // the factories refuse the same trees with a RangeError
    let q = P.causal();
    for (let i = 1; i < n; i++) q = P.difference(q, 'sink(1)');
    expect(String(q)).toBe(s);
    clear(() => P.difference(q, 'sink(1)'), RangeError, /^difference: patterns may nest at most 256 levels deep/);
    clear(() => P.perHead(q), RangeError, /^perHead: /);
  });
});

describe('compileMask bounds', () => {
  const ok = { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16 };

  it('sequences: at most 2^31 − 1 (int32 in the native mask)', () => {
    expect(MAX_MASK_SEQ).toBe(2 ** 31 - 1);
    clear(() => compileMask('causal', { ...ok, seqQ: 2 ** 31 }), RangeError, /^compileMask: seqQ must be a positive integer at most 2147483647, got 2147483648$/);
    clear(() => compileMask('causal', { ...ok, seqK: 2 ** 40 }), RangeError, /^compileMask: seqK must be/);
    // too many rows of tiles for rowPtr: refused before any work
    clear(() => compileMask('causal', { ...ok, seqQ: 2 ** 31 - 1, seqK: 2 ** 31 - 1, blockQ: 1 }), RangeError, /rows of tiles.*seqQ/);
    // a long sequence that the tiles keep small is fine
    expect(compileMask('sliding(4)', { seqQ: 2 ** 20, seqK: 2 ** 20, blockQ: 1024, blockK: 1024 }).numQBlocks).toBe(1024);
  });

  it(`tiles: sides at most ${MAX_MASK_BLOCK}, bit tiles at most ${MAX_MASK_TILE_BITS} bits`, () => {
    clear(() => compileMask('causal', { ...ok, blockQ: 65537 }), RangeError, /^compileMask: blockQ must be a positive integer at most 65536/);
    clear(() => compileMask('causal', { ...ok, blockK: 2 ** 20 }), RangeError, /^compileMask: blockK must be/);
    clear(() => compileMask('causal', { ...ok, blockQ: 4096, blockK: 4097 }), RangeError, /blockQ × blockK = 4096 × 4097/);
    clear(() => compileMask('causal', { ...ok, blockQ: 65536, blockK: 65536 }), RangeError, /blockQ × blockK/);
    expect(compileMask('causal', { ...ok, blockQ: 4096, blockK: 4096 }).numQBlocks).toBe(1);
    expect(compileMask('causal', { ...ok, blockQ: 1, blockK: 65536 }).numKBlocks).toBe(1);
    // analyze and renderMask name their own option
    clear(() => analyze('causal', { seqLen: 8, layers: 1, tile: { blockQ: 65536, blockK: 65536 } }), RangeError, /^analyze: a tile of tile\.blockQ × tile\.blockK = 65536 × 65536/);
    clear(() => renderMask('causal', { seqLen: 8, format: 'svg', tile: { blockQ: 8192, blockK: 8192 } }), RangeError, /^renderMask: a tile of tile\.blockQ × tile\.blockK/);
  });

  it(`heads: at most ${MAX_MASK_HEADS} for a per-head pattern; ignored by a shared one`, () => {
    const ph = 'perHead(causal, full)';
    clear(() => compileMask(ph, { ...ok, heads: MAX_MASK_HEADS + 1 }), RangeError, /^compileMask: heads must be at most 65536 for a pattern that differs between heads, got 65537$/);
    expect(compileMask(ph, { seqQ: 8, seqK: 8, blockQ: 8, blockK: 8, heads: MAX_MASK_HEADS }).heads).toBe(MAX_MASK_HEADS);
    expect(compileMask('causal', { ...ok, heads: 2 ** 40 }).heads).toBe(1);
    // a pattern whose own head period is past the limit needs heads
    const wide = { allows: () => true, classify: () => TileClass.Full, headPeriod: 2 ** 20, toString: () => 'wide' };
    clear(() => compileMask(wide as never, ok), RangeError, /repeats over 1048576 heads.*give heads/);
    expect(compileMask(wide as never, { ...ok, heads: 4 }).heads).toBe(4);
  });
});
