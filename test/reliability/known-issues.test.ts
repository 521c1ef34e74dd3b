/**
 * Bugs the reliability fuzzers found in files outside test/reliability, not fixed yet. Each test
 * asserts the right behaviour and is marked `it.fails`: when the bug is fixed it starts failing
 * here — then turn `it.fails` into `it` and delete the matching entry of KNOWN_ISSUES in fuzz.ts
 * (which keeps the fuzzers from failing on the same bug meanwhile). `it.todo` marks the ones that
 * cannot run safely in the test process (they hang, or exhaust memory, or crash by design).
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../lib/tensor.js';
import { parsePattern, TileClass } from '../../lib/patterns/index.js';
import { compileMask } from '../../lib/mask/index.js';
import { analyze } from '../../lib/analysis/index.js';
import { renderMask } from '../../lib/render/index.js';
import { formatInfo } from '../../lib/info.js';
import { KNOWN_ISSUES, unclear } from './fuzz.js';

/** The error fn throws (fails the test if it returns). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

describe('known issues (it.fails: fixing one makes its test fail here)', () => {
  it('every KNOWN_ISSUES entry of fuzz.ts is pinned below', () => {
    expect(KNOWN_ISSUES.map((k) => k.id).sort()).toEqual([]);
  });

  // Fixed (the tests below stay as regression tests; test/reliability/limits.test.ts has more).
  // lib/tensor.ts accepted any safe-integer product; allocating then failed with V8's "Invalid typed
  // array length: N", which names no argument. Now host tensors hold at most MAX_HOST_ELEMENTS.
  it('tensor-huge-shape: Tensor.zeros of a shape too large for a typed array names the shape', () => {
    const e = thrown(() => Tensor.zeros([2 ** 20, 2 ** 20, 4]));
    expect(unclear(e)).toBeNull();
    expect(e.message).toMatch(/Tensor\.zeros.*shape/);
  });

  // lib/tensor.ts: fromFloat32 converted with Float32Array.from, which threw V8's BigInt message
  it('tensor-bigint-values: Tensor.fromFloat32 with a BigInt among the values names the values', () => {
    const e = thrown(() => Tensor.fromFloat32([1, 2n as unknown as number], [2]));
    expect(unclear(e)).toBeNull();
    expect(e.message).toMatch(/fromFloat32.*values/);
  });

  // lib/analysis/analyze.ts and lib/render/index.ts formatted a bad option with String(v)
  it('options-shown-with-String: analyze names an object option without "[object Object]" or a conversion TypeError', () => {
    expect(thrown(() => analyze('causal', { seqLen: {} as never, layers: 1 })).message).not.toMatch(/\[object Object\]/);
    expect(unclear(thrown(() => analyze('causal', { seqLen: Object.create(null), layers: 1 })))).toBeNull();
  });
  it('options-shown-with-String: renderMask likewise', () => {
    expect(thrown(() => renderMask('causal', { seqLen: {} as never })).message).not.toMatch(/\[object Object\]/);
  });

  // lib/info.ts: formatInfo(x) read x.backends.cpu.available unchecked
  it('formatInfo-unchecked: formatInfo of a non-info value throws a TypeError naming its argument', () => {
    const e = thrown(() => formatInfo({} as never));
    expect(unclear(e)).toBeNull();
  });

  // lib/patterns/parse.ts recursed once per parenthesis: about 5000 nested ones overflowed the stack
  it('parser-deep-nesting: deeply nested parentheses parse, or fail with a PatternSyntaxError', () => {
    const s = '('.repeat(20000) + 'causal' + ')'.repeat(20000);
    let e: unknown = null;
    try {
      parsePattern(s);
    } catch (x) {
      e = x;
    }
    if (e !== null) expect((e as Error).name).toBe('PatternSyntaxError');
  });

  // lib/mask/compile.ts checked sizes only to be safe integers; huge ones reached typed-array
  // allocation ("Invalid typed array length" / "Array buffer allocation failed", or a real
  // multi-GiB allocation when it fit), and heads was unbounded (2^40 heads ran for hours)
  it('compileMask: a sequence too long to compile is a RangeError naming seqQ / seqK', () => {
    const e = thrown(() => compileMask('causal', { seqQ: 2 ** 40, seqK: 2 ** 40, blockQ: 1, blockK: 1 }));
    expect(unclear(e)).toBeNull();
    expect(e.message).toMatch(/seq[QK]/);
  });
  it('compileMask: a tile too large for a bit tile is a RangeError naming blockQ / blockK', () => {
    const e = thrown(() => compileMask('causal', { seqQ: 64, seqK: 64, blockQ: 2 ** 20, blockK: 2 ** 20 }));
    expect(unclear(e)).toBeNull();
    expect(e.message).toMatch(/block[QK]/);
  });
  it('compileMask: too many heads for a per-head mask is a RangeError naming heads, before any work', () => {
    const e = thrown(() => compileMask('perHead(causal, full)', { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16, heads: 2 ** 40 }));
    expect(unclear(e)).toBeNull();
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(/heads/);
    // "at once" as work counted, not time: a per-head pattern of the user's own, whose every
    // question the compiler asks is counted, is asked nothing before the error
    let asked = 0;
    const counted = {
      headPeriod: 2,
      allows: (p: number, j: number) => (asked++, j <= p),
      classify: () => (asked++, TileClass.Partial),
      toString: () => 'counted',
    };
    const e2 = thrown(() => compileMask(counted, { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16, heads: 2 ** 40 }));
    expect(e2).toBeInstanceOf(RangeError);
    expect(e2.message).toMatch(/heads/);
    expect(asked).toBe(0);
    // the same pattern with heads in range is compiled by asking it (the counter sees the work)
    compileMask(counted, { seqQ: 64, seqK: 64, blockQ: 16, blockK: 16, heads: 4 });
    expect(asked).toBeGreaterThan(0);
  });

  // native/binding/addon.cpp: a typed array that a running attention() reads can be detached
  // (postMessage / structuredClone with transfer) and its memory freed by the receiver; the worker
  // then reads freed memory (seen: SIGSEGV). Node-API cannot pin a buffer; copying every input of
  // an async call would cost its memory. Documented limitation: do not transfer buffers in use.
  it.todo('native attention(): detaching (transferring) an input buffer while the call runs, then freeing it, is a use-after-free');
});
