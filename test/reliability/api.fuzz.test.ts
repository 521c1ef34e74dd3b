/**
 * Every public function other than attention under fuzzing: wrong JS types, bad numbers
 * (NaN, ±Infinity, fractions, negatives, huge values), wrong lengths, disposed tensors, malformed
 * pattern strings. Each call must return a sane value or throw a clear error (see fuzz.ts).
 * Sizes stay small (or fail before allocating): nothing here may allocate more than a few MiB.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../lib/tensor.js';
import { patterns, parsePattern, toPattern, PatternSyntaxError } from '../../lib/patterns/index.js';
import { compileMask, clearMaskCache } from '../../lib/mask/index.js';
import { analyze } from '../../lib/analysis/index.js';
import { renderMask } from '../../lib/render/index.js';
import { formatInfo, info } from '../../lib/info.js';
import { main } from '../../lib/cli.js';
import * as api from '../../lib/index.js';
import { cases, DTYPES, failureReport, freshFailures, Gen, junk, judge, judgeAsync, show, suiteSeed, Tally } from './fuzz.js';
import { patternString, primitive } from './gen.js';

const SEED = suiteSeed(0xf422);

/** A shape: mostly small and valid, sometimes malformed, sometimes too large to allocate at all. */
function shapeArg(g: Gen): unknown {
  const r = g.int(0, 9);
  if (r <= 4) return Array.from({ length: g.int(0, 5) }, () => g.int(0, 4));
  if (r === 5) return junk(g);
  if (r === 6) return Array.from({ length: g.int(1, 4) }, () => g.pick([-1, 0.5, NaN, Infinity, '2', null, 2 ** 53, -0]));
  // far past what any typed array can hold (fails before allocating); never between 2^28 and 2^33
  if (r === 7) return [2 ** 20, 2 ** 20, g.int(1, 4)];
  if (r === 8) return [2 ** 27, 2 ** 27];
  return [g.int(1, 3), g.int(1, 3), 2 ** 40];
}

function size(shape: unknown): number {
  return Array.isArray(shape) ? shape.reduce((a: number, b: unknown) => a * (typeof b === 'number' ? b : NaN), 1) : NaN;
}

function dataArg(g: Gen, shape: unknown): unknown {
  const n0 = size(shape);
  const n = Number.isSafeInteger(n0) && n0 >= 0 && n0 <= 4096 ? n0 + (g.bool(0.8) ? 0 : g.pick([-1, 1])) : g.int(0, 8);
  const len = Math.max(0, n);
  switch (g.int(0, 7)) {
    case 0: return new Float32Array(len).map(() => g.normal());
    case 1: return new Uint16Array(len).map(() => g.int(0, 65535));
    case 2: return Array.from({ length: len }, () => g.normal());
    case 3: return Array.from({ length: len }, () => g.pick([1, NaN, Infinity, '1', null, undefined, 1n]));
    case 4: return new Float64Array(len);
    case 5: return new Int8Array(len);
    case 6: return junk(g);
    default: return new Float32Array(new ArrayBuffer(len * 4 + 8), 8, len); // with a byte offset
  }
}

function optsArg(g: Gen): unknown {
  if (g.bool(0.2)) return junk(g);
  const o: Record<string, unknown> = {};
  if (g.bool(0.6)) o.dtype = g.bool(0.7) ? g.pick(DTYPES) : junk(g);
  if (g.bool(0.4)) o.layout = g.bool(0.7) ? g.pick(['bhsd', 'bshd']) : junk(g);
  if (g.bool(0.6)) o.seed = g.bool(0.7) ? g.int(0, 1000) : junk(g);
  return o;
}

function checkTensor(shape: unknown) {
  return (t: unknown): string | null => {
    if (!(t instanceof Tensor)) return 'did not return a Tensor';
    if (!Array.isArray(shape) || t.shape.join() !== shape.join()) return `shape [${t.shape}] for ${show(shape)}`;
    if (t.size !== size(shape)) return `size ${t.size}`;
    if (t.data.length !== t.size) return `data length ${t.data.length} for size ${t.size}`;
    if (t.toFloat32().length !== t.size) return 'toFloat32 length';
    return null;
  };
}

describe('API fuzz', () => {
  it('Tensor factories and methods', () => {
    const g = new Gen(SEED);
    const failures: string[] = [];
    const tally = new Tally();
    const n = cases(1500);
    for (let c = 0; c < n; c++) {
      const shape = shapeArg(g);
      const where = `case ${c} shape ${show(shape)}`;
      const which = g.int(0, 3);
      if (which === 0) {
        const data = dataArg(g, shape);
        const opts = optsArg(g);
        judge(failures, tally, 'Tensor.from', `${where} data ${show(data)} opts ${show(opts)}`, () => Tensor.from(data as never, shape as never, opts as never), checkTensor(shape));
      } else if (which === 1) {
        const data = dataArg(g, shape);
        const opts = optsArg(g);
        judge(failures, tally, 'Tensor.fromFloat32', `${where} data ${show(data)} opts ${show(opts)}`, () => Tensor.fromFloat32(data as never, shape as never, opts as never), checkTensor(shape));
      } else if (which === 2) {
        const opts = optsArg(g);
        judge(failures, tally, 'Tensor.zeros', `${where} opts ${show(opts)}`, () => Tensor.zeros(shape as never, opts as never), checkTensor(shape));
      } else {
        const opts = optsArg(g);
        judge(failures, tally, 'Tensor.randn', `${where} opts ${show(opts)}`, () => Tensor.randn(shape as never, opts as never), checkTensor(shape));
      }
    }
    // methods on live and disposed tensors, with junk arguments
    for (let c = 0; c < cases(1500); c++) {
      const rank = g.int(0, 5);
      const shape = Array.from({ length: rank }, () => g.int(0, 3));
      const t = Tensor.randn(shape, { seed: c, dtype: g.pick(DTYPES), layout: g.pick(['bhsd', 'bshd'] as const) });
      if (g.bool(0.3)) t.dispose();
      const where = `case ${c} ${t}`;
      const m = g.int(0, 5);
      if (m === 0) judge(failures, tally, 'tensor.toFloat32', where, () => t.toFloat32(), (x) => (x instanceof Float32Array && x.length === t.size ? null : 'bad toFloat32'));
      else if (m === 1) {
        const dev = g.bool() ? junk(g) : g.pick(['cpu', 'cuda', 'cuda:0', 'cuda:1', 'cuda:-1', 'CPU', 'gpu', 'cuda:01', 'cuda:99999999999']);
        judge(failures, tally, 'tensor.to', `${where} to ${show(dev)}`, () => t.to(dev as never), (x) => (x instanceof Tensor && x !== t && x.shape.join() === t.shape.join() ? null : 'bad copy'));
      } else if (m === 2) judge(failures, tally, 'tensor.dispose', where, () => { t.dispose(); t.dispose(); });
      else if (m === 3) judge(failures, tally, 'tensor.dims4', where, () => t.dims4(), (d) => (rank === 4 ? null : `dims4 of a ${rank}-D tensor returned ${show(d)}`));
      else if (m === 4) judge(failures, tally, 'tensor.data', where, () => t.data, (x) => (t.disposed ? 'data of a disposed tensor' : (x as Float32Array).length === t.size ? null : 'bad data'));
      else judge(failures, tally, 'tensor.toString', where, () => String(t) + JSON.stringify(t.shape));
    }
    console.log(tally.report(`Tensor fuzz (seed ${SEED}):`));
    const fresh = freshFailures(failures, `seed ${SEED}`);
    expect(fresh, failureReport(fresh, SEED)).toEqual([]);
  });

  it('patterns factories, parsePattern, toPattern', () => {
    const g = new Gen(SEED + 1);
    const failures: string[] = [];
    const tally = new Tally();
    const names = Object.keys(patterns) as (keyof typeof patterns)[];
    const numArg = () => (g.bool(0.6) ? g.int(0, 20) : g.pick([-1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 32, 1e300, '3', null, undefined, 3n, {}, [2]]));
    const roundTrip = (p: unknown): string | null => {
      if (p === null || typeof p !== 'object') return 'not a pattern';
      const s = String(p);
      const again = parsePattern(s);
      return String(again) === s ? null : `prints as ${s} but that parses to ${String(again)}`;
    };
    for (let c = 0; c < cases(3000); c++) {
      const name = g.pick(names);
      const combinator = ['union', 'intersect', 'difference', 'perHead'].includes(name);
      const args = Array.from({ length: g.int(0, 4) }, () => (combinator ? (g.bool(0.7) ? patternString(g, 16, 1) : g.bool() ? patterns.causal() : junk(g)) : numArg()));
      judge(failures, tally, `patterns.${name}`, `case ${c} patterns.${name}(${args.map(show).join(', ')})`, () => (patterns[name] as (...a: unknown[]) => unknown)(...args), roundTrip);
    }
    // strings: valid ones, mutated ones, random token soup, pathological nesting and lengths
    const tokens = ['causal', 'full', 'log', 'sliding', 'window', 'sink', 'docs', 'global', 'perHead', 'union', '(', ')', ',', '&', '|', '-', ' ', '1', '0', '-1', '99999999999999999999', '1.5', 'x', '\u00e9', '\t', '\n', '\u0000'];
    for (let c = 0; c < cases(2500); c++) {
      let s: string;
      const r = g.int(0, 6);
      if (r <= 1) s = patternString(g, 32, 3);
      else if (r === 2) {
        const base = patternString(g, 32, 2);
        const i = g.int(0, base.length);
        const op = g.int(0, 2);
        s = op === 0 ? base.slice(0, i) + base.slice(i + 1) : op === 1 ? base.slice(0, i) + g.pick(tokens) + base.slice(i) : base.slice(0, i);
      } else if (r === 3) s = Array.from({ length: g.int(0, 12) }, () => g.pick(tokens)).join('');
      else if (r === 4) {
        // (deeper nesting overflows the parser's stack: see known-issues.test.ts)
        const depth = g.bool(0.02) ? 2000 : g.pick([10, 50, 100, 300]); // long flat lists parse in ~quadratic time
        s = g.bool() ? '('.repeat(depth) + 'causal' + ')'.repeat(depth) : Array.from({ length: depth }, () => 'causal').join(g.pick([' | ', ' & ', ' - ']));
      } else if (r === 5) s = `global(${Array.from({ length: g.bool(0.05) ? 10000 : g.pick([1, 100]) }, (_, i) => i).join(', ')})`;
      else s = `${primitive(g, 8)} ${g.pick(['|', '&', '-', '^', '||', ''])} ${primitive(g, 8)}`;
      const fn = g.bool() ? 'parsePattern' : 'toPattern';
      judge(failures, tally, fn, `case ${c} ${fn}(${JSON.stringify(s.length > 120 ? s.slice(0, 120) + '…' : s)})`, () => (fn === 'parsePattern' ? parsePattern(s) : toPattern(s)), roundTrip);
    }
    for (let c = 0; c < cases(300); c++) {
      const x = g.bool(0.3)
        ? { allows: () => true, classify: () => 0, headPeriod: g.pick([1, 0, -1, 1.5, NaN, 2 ** 60, '1']) }
        : junk(g);
      judge(failures, tally, 'toPattern', `case ${c} toPattern(${show(x)})`, () => toPattern(x as never));
      judge(failures, tally, 'parsePattern', `case ${c} parsePattern(${show(x)})`, () => parsePattern(x as never), roundTrip);
    }
    // syntax errors are PatternSyntaxErrors with a position inside the source
    for (const s of ['causal &', 'sliding(', '(((', 'foo', 'causal ^ full']) {
      try {
        parsePattern(s);
        failures.push(`parsePattern(${JSON.stringify(s)}) did not throw`);
      } catch (e) {
        if (!(e instanceof PatternSyntaxError) || !(e.position >= 0 && e.position <= s.length)) failures.push(`parsePattern(${JSON.stringify(s)}) threw ${String(e)}`);
      }
    }
    console.log(tally.report(`pattern fuzz (seed ${SEED + 1}):`));
    const fresh = freshFailures(failures, `seed ${SEED + 1}`);
    expect(fresh, failureReport(fresh, SEED + 1)).toEqual([]);
  });

  it('compileMask, clearMaskCache, analyze, renderMask', () => {
    const g = new Gen(SEED + 2);
    const failures: string[] = [];
    const tally = new Tally();
    // sizes: small valid, or invalid in a way that must be rejected before any work
    const dim = () => (g.bool(0.75) ? g.int(1, 150) : g.pick([0, -1, 0.5, NaN, Infinity, 2 ** 53, '8', null, undefined, 8n, {}]));
    const pat = () => (g.bool(0.85) ? patternString(g, 64, 2) : g.bool() ? patterns.sliding(3) : junk(g));
    for (let c = 0; c < cases(2000); c++) {
      const p = pat();
      const o = g.bool(0.1) ? junk(g) : { seqQ: dim(), seqK: dim(), blockQ: g.bool(0.8) ? g.int(1, 64) : dim(), blockK: g.bool(0.8) ? g.int(1, 64) : dim(), ...(g.bool(0.3) ? { heads: g.bool(0.7) ? g.int(1, 6) : dim() } : {}) };
      judge(failures, tally, 'compileMask', `case ${c} compileMask(${show(p)}, ${show(o)})`, () => compileMask(p as never, o as never), (m) => {
        const k = m as ReturnType<typeof compileMask>;
        const oo = o as { seqQ: number; seqK: number; blockQ: number; blockK: number };
        if (k.numQBlocks !== Math.ceil(oo.seqQ / oo.blockQ) || k.numKBlocks !== Math.ceil(oo.seqK / oo.blockK)) return 'block counts';
        if (k.rowPtr.length !== k.heads * k.numQBlocks + 1 || k.rowPtr[k.rowPtr.length - 1] !== k.colIdx.length) return 'rowPtr';
        for (let r = 0; r + 1 < k.rowPtr.length; r++) {
          if (k.rowPtr[r + 1] < k.rowPtr[r]) return 'rowPtr not monotone';
          for (let e = k.rowPtr[r]; e < k.rowPtr[r + 1]; e++) {
            if (k.colIdx[e] < 0 || k.colIdx[e] >= k.numKBlocks || (e > k.rowPtr[r] && k.colIdx[e] <= k.colIdx[e - 1])) return 'colIdx';
            const t = k.partial[e];
            if (t < -1 || (t + 1) * k.blockQ * k.wordsPerRow > k.bits.length) return 'partial';
          }
        }
        return null;
      });
      if (c % 97 === 0) judge(failures, tally, 'clearMaskCache', `case ${c}`, () => clearMaskCache());
    }
    for (let c = 0; c < cases(1000); c++) {
      const p = pat();
      const o = g.bool(0.1)
        ? junk(g)
        : {
            seqLen: g.bool(0.8) ? g.int(1, 96) : dim(),
            layers: g.bool(0.8) ? g.int(0, 12) : g.pick([-1, 0.5, NaN, 2 ** 25, '2', null]),
            ...(g.bool(0.2) ? { tile: g.bool(0.7) ? { blockQ: g.int(1, 64), blockK: g.int(1, 64) } : junk(g) } : {}),
            ...(g.bool(0.2) ? { head: g.bool(0.7) ? g.int(0, 7) : junk(g) } : {}),
            ...(g.bool(0.15) ? { method: g.pick(['auto', 'bfs', 'interval', 'toeplitz-causal', 'magic', 3]) } : {}),
            ...(g.bool(0.1) ? { maxWork: g.pick([0, 1, 100, -1, NaN, 'x']) } : {}),
          };
      judge(failures, tally, 'analyze', `case ${c} analyze(${show(p)}, ${show(o)})`, () => analyze(p as never, o as never), (a) => {
        const x = a as ReturnType<typeof analyze>;
        const T = (o as { seqLen: number }).seqLen;
        if (!(x.density >= 0 && x.density <= 1)) return `density ${x.density}`;
        if (!(x.neighborhood.min >= 0 && x.neighborhood.max <= T)) return 'neighborhood';
        if (x.receptiveField.last.length !== (o as { layers: number }).layers) return 'receptiveField length';
        if (!(x.tileEfficiency >= 0 && x.tileEfficiency <= 1)) return `tileEfficiency ${x.tileEfficiency}`;
        return null;
      });
    }
    for (let c = 0; c < cases(1000); c++) {
      const p = pat();
      const o = g.bool(0.1)
        ? junk(g)
        : {
            ...(g.bool(0.9) ? { seqLen: g.bool(0.8) ? g.int(1, 48) : dim() } : {}),
            ...(g.bool(0.2) ? { seqQ: dim() } : {}),
            ...(g.bool(0.2) ? { seqK: dim() } : {}),
            ...(g.bool(0.5) ? { format: g.pick(['grid', 'bits', 'svg', 'png', '', 1]) } : {}),
            ...(g.bool(0.15) ? { head: g.bool(0.7) ? g.int(0, 7) : junk(g) } : {}),
            ...(g.bool(0.15) ? { tile: g.bool(0.7) ? { blockQ: g.int(1, 16), blockK: g.int(1, 16) } : junk(g) } : {}),
          };
      judge(failures, tally, 'renderMask', `case ${c} renderMask(${show(p)}, ${show(o)})`, () => renderMask(p as never, o as never), (s) => (typeof s === 'string' && s.length > 0 ? null : 'not a string'));
    }
    console.log(tally.report(`mask / analysis / render fuzz (seed ${SEED + 2}):`));
    const fresh = freshFailures(failures, `seed ${SEED + 2}`);
    expect(fresh, failureReport(fresh, SEED + 2)).toEqual([]);
  });

  it('info, formatInfo and the index exports', () => {
    const g = new Gen(SEED + 3);
    const failures: string[] = [];
    const tally = new Tally();
    const good = info();
    for (let c = 0; c < cases(500); c++) {
      const arg = g.int(0, 3) === 0 ? good : g.bool() ? junk(g) : { ...good, backends: g.bool() ? junk(g) : { ...good.backends, cpu: junk(g) } };
      judge(failures, tally, 'formatInfo', `case ${c} formatInfo(${show(arg)})`, () => formatInfo(arg as never), (s) => (typeof s === 'string' ? null : 'not a string'));
      judge(failures, tally, 'info', `case ${c} info(${show(arg)})`, () => (info as (...a: unknown[]) => unknown)(arg), (x) => (JSON.stringify(x) === JSON.stringify(good) ? null : 'info changed'));
    }
    // every export is there and is what the contract says
    for (const name of ['Tensor', 'attention', 'attentionSync', 'mergeAttention', 'patterns', 'parsePattern', 'toPattern', 'compileMask', 'clearMaskCache', 'analyze', 'renderMask', 'info', 'formatInfo']) {
      if (!(name in api)) failures.push(`lib/index.ts does not export ${name}`);
    }
    console.log(tally.report(`info fuzz (seed ${SEED + 3}):`));
    const fresh = freshFailures(failures, `seed ${SEED + 3}`);
    expect(fresh, failureReport(fresh, SEED + 3)).toEqual([]);
  });

  it('the CLI: random argument vectors end in exit code 0, 1 or 2 with one-line errors', async () => {
    const g = new Gen(SEED + 4);
    const failures: string[] = [];
    const tally = new Tally();
    const words = ['mask', 'analyze', 'info', 'help', 'bench', 'nope', '--n', '--layers', '--format', '-f', 'grid', 'bits', 'svg', 'png', '--seq-q', '--head', '--tile', '64x64', '8x', '0x4', '--json', '--quick', '--out', '-h', '--help', '-v', '--version', '-l', '--', '-', '=', '--n=8'];
    const nums = ['0', '1', '5', '17', '64', '300', '-3', '1e3', '0x10', 'abc', '', ' 7 ', '16777217', '99999999999999999999', '2.5'];
    for (let c = 0; c < cases(1000); c++) {
      const argv: string[] = [];
      const len = g.int(0, 7);
      for (let i = 0; i < len; i++) {
        const r = g.int(0, 3);
        argv.push(r === 0 ? g.pick(nums) : r === 1 ? patternString(g, 16, 1) : g.pick(words));
      }
      if (g.bool(0.5)) argv.unshift(g.pick(['mask', 'analyze', 'info', 'help']));
      // the benchmark runs for real when asked; only its help and its argument errors are fuzzed
      if (argv[0] === 'bench' && !argv.includes('--help') && !argv.includes('-h')) argv.splice(1, 0, '--no-such-flag');
      let out = '';
      let err = '';
      const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } };
      await judgeAsync(failures, tally, 'cli main', `case ${c} attnflow ${argv.map((a) => JSON.stringify(a)).join(' ')}`, () => main(argv, io), (code) => {
        if (code !== 0 && code !== 1 && code !== 2) return `exit code ${show(code)}`;
        if (code !== 0) {
          const lines = err.trimEnd().split('\n');
          if (lines.length !== 1 && !err.startsWith('attnflow ')) return `error is not one line: ${JSON.stringify(err.slice(0, 300))}`;
          if (/\n\s+at /.test(err)) return `stack trace on stderr: ${JSON.stringify(err.slice(0, 300))}`;
        }
        if (code === 0 && out.length === 0) return 'exit 0 with no output';
        return null;
      });
    }
    console.log(tally.report(`CLI fuzz (seed ${SEED + 4}):`));
    const fresh = freshFailures(failures, `seed ${SEED + 4}`);
    expect(fresh, failureReport(fresh, SEED + 4)).toEqual([]);
  });
});
