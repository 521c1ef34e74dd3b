/**
 * attention / attentionSync / mergeAttention under fuzzing: random valid problems (every
 * primitive and combinator, patterns that leave rows empty, GQA, seqQ ≠ seqK, both layouts,
 * every dtype, scale/softcap/ALiBi/RoPE) must match the float64 oracle on the native CPU and the
 * reference backends; the same problems with one argument broken must throw a clear error and
 * leave options.out untouched.
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionSync } from '../../lib/attention/run.js';
import { mergeAttention } from '../../lib/attention/merge.js';
import { Tensor } from '../../lib/tensor.js';
import { patterns, toPattern } from '../../lib/patterns/index.js';
import type { AttentionOptions } from '../../lib/attention/plan.js';
import { oracle } from '../helpers/oracle.js';
import { asResult, wrongAnswer } from './check.js';
import { cases, failureReport, Gen, isPoisoned, junk, judge, poison, show, suiteSeed, Tally, unclear } from './fuzz.js';
import { patternString, problem, type Problem } from './gen.js';

const SEED = suiteSeed(0xa77e);

function runSync(p: Problem, backend: 'cpu' | 'reference', withOut: boolean): unknown {
  const options: AttentionOptions = { ...p.options, backend };
  if (withOut) {
    options.out = Tensor.zeros(p.q.shape, { dtype: p.q.dtype, layout: options.layout ?? p.q.layout });
    poison(options.out);
  }
  const r = attentionSync(p.q, p.k, p.v, options);
  if (withOut) {
    const out = p.options.returnLse ? (r as { out: Tensor }).out : r;
    if (out !== options.out) throw new Error('attentionSync with options.out did not return options.out');
  }
  return r;
}

describe('attention fuzz: valid calls agree with the float64 oracle', () => {
  it('sync and async, cpu and reference, with and without options.out', async () => {
    const g = new Gen(SEED);
    const failures: string[] = [];
    const tally = new Tally();
    const n = cases(300);
    for (let c = 0; c < n; c++) {
      const p = problem(g, c % 10 === 0 ? 140 : 70);
      const where = `case ${c} (${p.desc})`;
      let ref: ReturnType<typeof oracle>;
      try {
        ref = oracle(p.q, p.k, p.v, p.options);
      } catch (e) {
        failures.push(`${where}: the oracle rejected a valid problem: ${(e as Error).message}`);
        continue;
      }
      const check = (r: unknown) => {
        const res = asResult(r, p.options.returnLse);
        return typeof res === 'string' ? res : wrongAnswer(p.q, p.k, p.v, p.options, res, ref);
      };
      for (const backend of ['cpu', 'reference'] as const) {
        const withOut = g.bool(0.3);
        let threw: unknown = null;
        try {
          const r = runSync(p, backend, withOut);
          const why = check(r);
          if (why) failures.push(`${where} [attentionSync ${backend}${withOut ? ' out' : ''}]: ${why}`);
        } catch (e) {
          threw = e;
        }
        tally.add(`attentionSync (${backend})`, threw !== null);
        if (threw) failures.push(`${where} [attentionSync ${backend}]: valid call threw ${(threw as Error).message}`);
      }
      if (c % 4 === 0) {
        try {
          const r = await attention(p.q, p.k, p.v, { ...p.options, backend: 'cpu' });
          const why = check(r);
          if (why) failures.push(`${where} [attention cpu]: ${why}`);
          tally.add('attention (cpu)', false);
        } catch (e) {
          tally.add('attention (cpu)', true);
          failures.push(`${where} [attention cpu]: valid call rejected: ${(e as Error).message}`);
        }
      }
    }
    console.log(tally.report(`attention fuzz, valid problems (seed ${SEED}):`));
    expect(failures, failureReport(failures, SEED)).toEqual([]);
    expect(tally.total('attentionSync (cpu)')).toBe(n);
  });

  it('mergeAttention of a split key set equals attention over the union (rows empty in a part included)', () => {
    const g = new Gen(SEED + 1);
    const failures: string[] = [];
    const n = cases(60);
    for (let c = 0; c < n; c++) {
      const p = problem(g, 70);
      const S = Math.max(p.q.dims4().seq, p.k.dims4().seq);
      const whole = p.options.pattern ?? 'full';
      const splitter = patternString(g, S, 1);
      const base: AttentionOptions = { ...p.options, returnLse: true };
      delete base.pattern;
      const backend = g.pick(['cpu', 'reference'] as const);
      const where = `case ${c} (${p.desc}; split by ${splitter}; ${backend})`;
      try {
        const a = attentionSync(p.q, p.k, p.v, { ...base, backend, returnLse: true, pattern: patterns.intersect(toPattern(whole), splitter) });
        const b = attentionSync(p.q, p.k, p.v, { ...base, backend, returnLse: true, pattern: patterns.difference(toPattern(whole), splitter) });
        const parts = g.bool() ? [a, b] : [b, a];
        const m = mergeAttention(parts);
        const why = wrongAnswer(p.q, p.k, p.v, { ...p.options, returnLse: true }, { out: m.out, lse: m.lse });
        if (why) failures.push(`${where}: ${why}`);
      } catch (e) {
        failures.push(`${where}: threw ${(e as Error).message}`);
      }
    }
    expect(failures, failureReport(failures, SEED + 1)).toEqual([]);
  });
});

// --- malformed calls ---------------------------------------------------------------------------

type Mutation = (p: Problem, g: Gen) => { q: unknown; k: unknown; v: unknown; options: unknown; what: string };

const same = (p: Problem) => ({ q: p.q as unknown, k: p.k as unknown, v: p.v as unknown, options: { ...p.options } as Record<string, unknown> });

function resizableCopy(t: Tensor): Tensor {
  const d = t.data;
  const RAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
  const buf = new RAB(d.byteLength, { maxByteLength: d.byteLength * 2 });
  const copy = d instanceof Float32Array ? new Float32Array(buf) : new Uint16Array(buf);
  copy.set(d);
  return Tensor.from(copy, t.shape, { dtype: t.dtype, layout: t.layout });
}

function reshaped(t: Tensor, shape: number[]): Tensor {
  return Tensor.zeros(shape, { dtype: t.dtype, layout: t.layout });
}

const MUTATIONS: Mutation[] = [
  (p, g) => ({ ...same(p), q: junk(g), what: 'q junk' }),
  (p, g) => ({ ...same(p), k: junk(g), what: 'k junk' }),
  (p, g) => ({ ...same(p), v: junk(g), what: 'v junk' }),
  (p, g) => ({ ...same(p), options: junk(g), what: 'options junk' }),
  (p, g) => {
    const which = g.pick(['q', 'k', 'v'] as const);
    const t = Tensor.zeros(p[which].shape, { dtype: p[which].dtype, layout: p[which].layout });
    t.dispose();
    return { ...same(p), [which]: t, what: `${which} disposed` };
  },
  (p, g) => {
    const which = g.pick(['q', 'k', 'v'] as const);
    const t = p[which];
    const shape = g.bool() ? t.shape.slice(0, g.int(0, 3)) : [...t.shape, g.int(1, 2)];
    return { ...same(p), [which]: reshaped(t, shape), what: `${which} rank ${shape.length}` };
  },
  (p, g) => {
    const which = g.pick(['k', 'v'] as const);
    const shape = [...p[which].shape];
    const axis = g.int(0, 3);
    shape[axis] += g.pick([1, 2, 5]);
    return { ...same(p), [which]: reshaped(p[which], shape), what: `${which} shape[${axis}] changed` };
  },
  (p, g) => {
    const which = g.pick(['q', 'k', 'v'] as const);
    const other = g.pick(['float32', 'float16', 'bfloat16'] as const);
    return { ...same(p), [which]: Tensor.zeros(p[which].shape, { dtype: other, layout: p[which].layout }), what: `${which} dtype ${other}` };
  },
  (p, g) => {
    const which = g.pick(['q', 'k', 'v'] as const);
    const t = p[which];
    const layout = t.layout === 'bhsd' ? 'bshd' : 'bhsd';
    return { ...same(p), [which]: Tensor.from(t.data, t.shape, { dtype: t.dtype, layout }), what: `${which} layout ${layout}` };
  },
  (p, g) => {
    const which = g.pick(['q', 'k', 'v'] as const);
    return { ...same(p), [which]: resizableCopy(p[which]), what: `${which} in a resizable ArrayBuffer` };
  },
  (p, g) => {
    const s = same(p);
    s.options[g.pick(['patern', 'mask', 'Causal', 'dropout', 'isCausal', 'window'])] = junk(g);
    return { ...s, what: 'unknown option' };
  },
  (p, g) => {
    const s = same(p);
    const key = g.pick(['pattern', 'causal', 'scale', 'softcap', 'alibi', 'rope', 'layout', 'backend', 'returnLse', 'out']);
    s.options[key] = junk(g);
    return { ...s, what: `options.${key} junk` };
  },
  (p, g) => {
    const s = same(p);
    s.options.pattern = g.pick([
      'causal &',
      'sliding()',
      'sliding(0)',
      'sliding(-1)',
      'sliding(1.5)',
      'window(99999999999999999999)',
      'nope(3)',
      '((causal)',
      'causal | | full',
      'docs()',
      'global()',
      'random(3, 4294967296)',
      'perHead()',
      '',
      '   ',
      'causal ^ full',
      'causal & sliding(3) | sink(2))',
      '\u0000',
    ]);
    return { ...s, what: `pattern ${JSON.stringify(s.options.pattern)}` };
  },
  (p, g) => {
    const s = same(p);
    s.options.scale = g.pick([0, -1, NaN, Infinity, -Infinity, 1e39, 1e300, '1', null]);
    return { ...s, what: `scale ${show(s.options.scale)}` };
  },
  (p, g) => {
    const s = same(p);
    s.options.softcap = g.pick([-1, NaN, Infinity, 1e39, 1e-50, 1e-40, '5', null]);
    return { ...s, what: `softcap ${show(s.options.softcap)}` };
  },
  (p, g) => {
    const s = same(p);
    const H = p.q.dims4().heads;
    s.options.alibi = g.pick([
      new Float32Array(H + 1),
      new Float32Array(Math.max(0, H - 1)),
      Float32Array.from({ length: H }, (_, i) => (i === 0 ? NaN : 1)),
      Float32Array.from({ length: H }, (_, i) => (i === H - 1 ? Infinity : 1)),
      new Float64Array(H),
      Array.from({ length: H }, () => 1),
      'true',
      1,
    ]);
    return { ...s, what: `alibi ${show(s.options.alibi)}` };
  },
  (p, g) => {
    const s = same(p);
    const D = p.q.dims4().headDim;
    s.options.rope = g.pick([
      { dims: D + 1 + (D % 2) },
      { dims: 3 },
      { dims: 0 },
      { dims: -2 },
      { dims: 2.5 },
      { base: 1 },
      { base: 0.5 },
      { base: NaN },
      { base: 1e39 },
      { style: 'neox' },
      { offset: 0.5 },
      { offset: 2 ** 40 },
      { offset: -(2 ** 40) },
      { offset: NaN },
      { theta: 10000 },
      true,
      'half',
      [],
    ]);
    return { ...s, what: `rope ${show(s.options.rope)}` };
  },
  (p, g) => {
    const s = same(p);
    s.options.layout = g.pick(['BHSD', 'bsdh', '', 0, null]);
    return { ...s, what: `layout ${show(s.options.layout)}` };
  },
  (p, g) => {
    const s = same(p);
    s.options.backend = g.pick(['cuda', 'gpu', 'CPU', '', 'webgpu', 0]);
    return { ...s, what: `backend ${show(s.options.backend)}` };
  },
  (p, g) => {
    const s = same(p);
    const q = p.q;
    const kind = g.int(0, 6);
    let out: unknown;
    switch (kind) {
      case 0: out = Tensor.zeros([...q.shape.slice(0, 3), q.shape[3] + 1], { dtype: q.dtype, layout: q.layout }); break;
      case 1: out = Tensor.zeros(q.shape, { dtype: q.dtype === 'float32' ? 'float16' : 'float32', layout: q.layout }); break;
      case 2: out = Tensor.zeros(q.shape, { dtype: q.dtype, layout: q.layout === 'bhsd' ? 'bshd' : 'bhsd' }); break;
      case 3: {
        const t = Tensor.zeros(q.shape, { dtype: q.dtype, layout: q.layout });
        t.dispose();
        out = t;
        break;
      }
      case 4: out = g.pick([q, p.k, p.v]); break;
      case 5: {
        const src = g.pick([q, p.k, p.v]);
        // a second Tensor over q's / k's / v's memory
        out = src.size >= q.size ? Tensor.from(src.data.subarray(0, q.size) as Float32Array, q.shape, { dtype: q.dtype, layout: q.layout }) : Tensor.zeros(q.shape, { dtype: q.dtype, layout: q.layout });
        if (src.dtype !== q.dtype) out = q;
        break;
      }
      default: out = resizableCopy(Tensor.zeros(q.shape, { dtype: q.dtype, layout: q.layout }));
    }
    s.options.out = out;
    return { ...s, what: `out (${kind}) ${show(out)}` };
  },
  (p) => {
    // q heads not a multiple of the kv heads (a valid call when k has one head)
    const { batch: B, heads: H, headDim: D } = p.k.dims4();
    const Hq = 2 * H + 1;
    const Sq = p.q.dims4().seq;
    const qShape = p.q.layout === 'bhsd' ? [B, Hq, Sq, D] : [B, Sq, Hq, D];
    const s = same(p);
    delete s.options.alibi; // its length follows q's heads
    return { ...s, q: Tensor.zeros(qShape, { dtype: p.q.dtype, layout: p.q.layout }), what: `q heads ${Hq}, k heads ${H}` };
  },
];

describe('attention fuzz: malformed calls throw clear errors', () => {
  it('attentionSync and attention, every argument broken in turn; a rejected call never writes options.out', async () => {
    const g = new Gen(SEED + 2);
    const failures: string[] = [];
    const tally = new Tally();
    const n = cases(3000);
    let rejected = 0;
    for (let c = 0; c < n; c++) {
      const p = problem(g, 24);
      const m = g.pick(MUTATIONS)(p, g);
      const where = `case ${c} (${m.what}; ${p.desc})`;
      const opts = m.options as AttentionOptions | undefined;
      // a valid out given alongside a broken argument must stay untouched
      let guard: Tensor | null = null;
      if (opts && typeof opts === 'object' && !('out' in opts) && g.bool(0.3)) {
        guard = Tensor.zeros(p.q.shape, { dtype: p.q.dtype, layout: opts.layout === 'bhsd' || opts.layout === 'bshd' ? opts.layout : p.q.layout });
        poison(guard);
        opts.out = guard;
      }
      const async = g.bool(0.3);
      const name = async ? 'attention' : 'attentionSync';
      let result: unknown;
      let error: unknown = null;
      try {
        result = async
          ? await attention(m.q as Tensor, m.k as Tensor, m.v as Tensor, m.options as AttentionOptions)
          : attentionSync(m.q as Tensor, m.k as Tensor, m.v as Tensor, m.options as AttentionOptions);
      } catch (e) {
        error = e;
      }
      tally.add(name, error !== null);
      if (error !== null) {
        rejected++;
        const why = unclear(error);
        if (why) failures.push(`${where} [${name}]: ${why}`);
        if (guard && !isPoisoned(guard)) failures.push(`${where} [${name}]: rejected, but wrote options.out`);
        continue;
      }
      // The mutation left a valid call (e.g. a junk value that happens to be acceptable): then it
      // must be right.
      try {
        const res = asResult(result, opts?.returnLse);
        const why = typeof res === 'string' ? res : wrongAnswer(m.q as Tensor, m.k as Tensor, m.v as Tensor, { ...(opts ?? {}), out: undefined }, res);
        if (why) failures.push(`${where} [${name}]: accepted, but ${why}`);
      } catch (e) {
        failures.push(`${where} [${name}]: accepted, but the oracle rejects it: ${(e as Error).message}`);
      }
    }
    console.log(tally.report(`attention fuzz, malformed calls (seed ${SEED + 2}), ${rejected} rejected:`));
    expect(failures, failureReport(failures, SEED + 2)).toEqual([]);
    expect(rejected).toBeGreaterThan(n * 0.8);
  });

  it('mergeAttention with malformed parts', () => {
    const g = new Gen(SEED + 3);
    const failures: string[] = [];
    const tally = new Tally();
    const n = cases(1000);
    for (let c = 0; c < n; c++) {
      const p = problem(g, 16);
      const part = () => attentionSync(p.q, p.k, p.v, { ...p.options, backend: 'reference', returnLse: true });
      const a = part();
      const b = part();
      const kind = g.int(0, 12);
      let parts: unknown;
      const { batch: B, heads: H, seq: S } = a.out.dims4();
      switch (kind) {
        case 0: parts = junk(g); break;
        case 1: parts = [a, junk(g)]; break;
        case 2: parts = [{ out: junk(g), lse: a.lse }]; break;
        case 3: parts = [{ out: a.out, lse: junk(g) }]; break;
        case 4: parts = [a, { out: Tensor.zeros([...a.out.shape.slice(0, 3), a.out.shape[3] + 1], { dtype: a.out.dtype, layout: a.out.layout }), lse: b.lse }]; break;
        case 5: parts = [a, { out: b.out, lse: Tensor.zeros([B, H, S + 1]) }]; break;
        case 6: parts = [a, { out: b.out, lse: Tensor.zeros([B, H, S], { dtype: 'float16' }) }]; break;
        case 7: {
          b.out.dispose();
          parts = [a, b];
          break;
        }
        case 8: {
          const sparse: unknown[] = [];
          sparse[1] = a;
          parts = g.bool() ? sparse : [a, , b]; // eslint-disable-line no-sparse-arrays
          break;
        }
        case 9: parts = [a, { out: Tensor.zeros(a.out.shape.slice(0, 3)), lse: b.lse }]; break;
        case 10: parts = [{ out: a.out, lse: a.lse }, { out: Tensor.zeros(a.out.shape, { dtype: a.out.dtype, layout: a.out.layout === 'bhsd' ? 'bshd' : 'bhsd' }), lse: b.lse }]; break;
        case 11: parts = []; break;
        default: {
          // lse holding NaN / ±Infinity in some rows: those rows may be NaN, the others must be exact
          const bad = Float32Array.from(b.lse.data as Float32Array);
          const r = g.int(0, bad.length - 1);
          bad[r] = g.pick([NaN, Infinity, -Infinity]);
          parts = [a, { out: b.out, lse: Tensor.from(bad, b.lse.shape) }];
        }
      }
      judge(failures, tally, 'mergeAttention', `case ${c} (kind ${kind}; ${p.desc})`, () => mergeAttention(parts as never), (r) => {
        const m = r as { out: Tensor; lse: Tensor };
        if (!(m.out instanceof Tensor) || !(m.lse instanceof Tensor)) return 'expected { out, lse }';
        if (m.out.shape.join() !== a.out.shape.join()) return `out shape [${m.out.shape}]`;
        return null;
      });
    }
    console.log(tally.report(`mergeAttention fuzz (seed ${SEED + 3}):`));
    expect(failures, failureReport(failures, SEED + 3)).toEqual([]);
  });
});
