/**
 * The native binding fuzzed directly (addon.attentionSync / addon.attention with malformed
 * argument objects), below the TypeScript validation: wrong typed-array types, data shorter than
 * shapes and strides imply, huge and zero strides, offsets past the end, negative / NaN /
 * fractional / huge numbers, corrupted BlockMask CSR (non-monotone rowPtr, out-of-range colIdx,
 * partial tiles past the bits, wrong wordsPerRow, …), missing fields, resizable buffers, getters
 * that detach a buffer while the arguments are read, proxies. Every case must end in a JS
 * exception (or a rejected promise) with a message, never a crash, a write outside the output
 * buffers (guard zones around out and lse) or a runaway allocation; unbroken control calls must
 * succeed and match a naive float64 attention.
 *
 * The calls run in a child process (test/reliability/native-child.mjs) under a 4 GiB address-space
 * limit, so a crash or an out-of-memory is reported here, with the case that caused it, instead of
 * taking the test runner (or the machine) down.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../lib/native/load.js';
import { cases, failureReport, Gen, suiteSeed, Tally } from './fuzz.js';

const SEED = suiteSeed(0x0a71e);
const CHILD = fileURLToPath(new URL('./native-child.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Mut {
  op: string;
  [k: string]: unknown;
}
interface Spec {
  i: number;
  B: number;
  Hq: number;
  Hkv: number;
  Sq: number;
  Sk: number;
  D: number;
  dtype: 0 | 1 | 2;
  pattern: 'full' | 'causal';
  seed: number;
  async: boolean;
  muts: Mut[];
  /** true when some mutation must make the call fail */
  mustFail: boolean;
}

const VIEWS = ['q', 'k', 'v', 'out'] as const;
const MASK_INTS = ['seqQ', 'seqK', 'blockQ', 'blockK', 'numQBlocks', 'numKBlocks', 'heads', 'wordsPerRow'] as const;
const JUNK_NUM = ['NaN', 'Infinity', '-Infinity', 'undefined', 'str:1', null, 1.5, -1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31) - 1, { x: 1 }];

/** One mutation and whether it must make the call fail. */
function mutation(g: Gen, s: Spec): [Mut, boolean] {
  const t = g.pick(VIEWS);
  switch (g.int(0, 28)) {
    case 0: return [{ op: 'viewReplace', t, v: g.pick(['undefined', null, 0, 'str:q', [1, 2]]) }, true];
    case 1: {
      const wrong = s.dtype === 0 ? ['Float64Array', 'Int32Array', 'Uint16Array', 'Uint8Array', 'Array', 'ArrayBuffer', 'DataView'] : ['Float32Array', 'Int16Array', 'Uint32Array', 'Array', 'DataView', 'BigInt64Array'];
      return [{ op: 'dataType', t, ctor: g.pick(wrong) }, true];
    }
    case 2: return [{ op: 'dataShorter', t, by: g.pick([1, 1, 2, 7, 1000]) }, true];
    case 3: return [{ op: 'dataEmpty', t }, true];
    case 4: {
      const v = g.pick([3, -1, 1.5, 'NaN', 'str:0', 'undefined', 2 ** 31, (s.dtype + g.int(1, 2)) % 3]);
      // float16 <-> bfloat16 keeps a Uint16Array valid: k or v may then differ from q (each
      // operand is read in its own dtype); out must match q
      const other16 = s.dtype !== 0 && (v === 1 || v === 2);
      return [{ op: 'dtype', t, v }, !(other16 && t !== 'out' && t !== 'q')];
    }
    case 5: {
      const axis = g.int(0, 3);
      return [{ op: 'shapeEntry', t, axis, v: g.pick(['shape+1', 'str:4', 'undefined', 'Infinity', 'NaN', -1, 1.5, 2 ** 31, 2 ** 53, 2 ** 63]) }, true];
    }
    case 6: return [{ op: 'shapeLength', t, n: g.pick([0, 3, 5]) }, true];
    case 7: return [{ op: 'shapeReplace', t, v: g.pick(['undefined', 0, 'str:1,1,1,1', { length: 4 }]) }, true];
    case 8: {
      const axis = g.int(0, 3);
      const v = g.pick([-1, 'NaN', 1.5, 2 ** 40, 2 ** 62, 'Infinity', 2 ** 53, 'str:1', 'undefined', 0]);
      const extent = (t === 'q' || t === 'out' ? [s.B, s.Hq, s.Sq, s.D] : [s.B, s.Hkv, s.Sk, s.D])[axis];
      // a stride is irrelevant on an axis of extent 1; zero strides (broadcast) are fine on inputs
      const must = v === 2 ** 40 ? extent > 1 : v === 0 ? t === 'out' && extent > 1 : true;
      return [{ op: 'strideEntry', t, axis, v }, must];
    }
    case 9: return [{ op: 'strideReplace', t, v: g.pick(['undefined', 'str:x', [1, 1, 1], null]) }, true];
    case 10: return [{ op: 'offset', t, v: g.pick(['len+1', 'len', 'one', -1, 'NaN', 1.5, 2 ** 53, 'undefined', 'str:0', 2 ** 64]) }, true];
    case 11: {
      const r = g.int(0, 2);
      if (r === 0) return [{ op: 'deleteField', t, f: g.pick(['data', 'dtype', 'shape', 'strides', 'offset']) }, true];
      if (r === 1) {
        const f = g.pick(['q', 'k', 'v', 'out', 'mask', 'scale', 'softcap', 'lse', 'alibi', 'rope']);
        return [{ op: 'deleteField', t: 'args', f }, !['lse', 'alibi', 'rope'].includes(f)];
      }
      return [{ op: 'deleteField', t: 'mask', f: g.pick([...MASK_INTS, 'rowPtr', 'colIdx', 'partial', 'bits']) }, true];
    }
    case 12: return [{ op: 'resizable', t }, true];
    case 13: return [{ op: 'hugeBroadcast', t, axis: g.int(0, 2), n: g.pick([2 ** 31 - 1, 2 ** 24, 2 ** 20]), rope: g.bool() }, true];
    case 14: return [{ op: 'outOverlap' }, s.B * s.Hq * s.Sq > 1];
    case 15: {
      const f = g.pick(MASK_INTS);
      const base = { seqQ: s.Sq, seqK: s.Sk, blockQ: 64, blockK: 64, numQBlocks: Math.ceil(s.Sq / 64), numKBlocks: Math.ceil(s.Sk / 64), heads: 1, wordsPerRow: 2 }[f];
      return [{ op: 'maskField', f, v: g.bool(0.5) ? base + g.pick([1, -1, 32, 64]) : g.pick(JUNK_NUM) }, true];
    }
    case 16: {
      const f = g.pick(['rowPtr', 'colIdx', 'partial', 'bits']);
      const ctor = g.pick(f === 'bits' ? ['Int32Array', 'Float32Array', 'Array', 'Uint16Array'] : ['Uint32Array', 'Float32Array', 'Array', 'Int16Array']);
      return [{ op: 'maskArrayType', f, ctor }, true];
    }
    case 17: return [{ op: 'rowPtrEntry', at: g.int(0, 100), v: g.pick([-1, 2 ** 31 - 1, -(2 ** 31), 1e9]) }, true];
    case 18: return [{ op: 'rowPtrSwap' }, true];
    case 19: return [{ op: 'rowPtrLength', by: g.pick([1, -1]) }, true];
    case 20: return [{ op: 'colIdxEntry', at: g.int(0, 100), v: g.pick([Math.ceil(s.Sk / 64), -1, 2 ** 31 - 1, -(2 ** 31), 1000]) }, true];
    case 21: return [{ op: 'partialEntry', at: g.int(0, 100), v: g.pick(['past', -2, 2 ** 31 - 1, -(2 ** 31)]) }, true];
    case 22: return [{ op: 'partialLength', by: g.pick([1, -1]) }, true];
    case 23: return [{ op: 'bitsLength', by: g.pick([1, -1]) }, true];
    case 24: {
      const f = g.pick(['scale', 'softcap']);
      const v = g.pick(['NaN', 'Infinity', '-Infinity', 'str:1', 'undefined', 1e39, null, -1, 1e-50, 0]);
      const ok = (f === 'scale' && (v === -1 || v === 0 || v === 1e-50)) || (f === 'softcap' && v === 0);
      return [{ op: 'scalar', f, v }, !ok];
    }
    case 25: {
      const v = g.pick(['short', 'long', 'f64', 0, 'str:x', null, 'undefined']);
      return [{ op: 'lse', v }, v !== null && v !== 'undefined'];
    }
    case 26: {
      const v = g.pick(['short', 'long', 'nan', 'inf', 'f64', 'str:x', 1, 'ok']);
      return [{ op: 'alibi', v }, v !== 'ok'];
    }
    case 27: {
      if (g.bool(0.2)) return [{ op: 'rope', v: g.pick([1, 'str:x', true]) }, true];
      const bad = g.int(0, 3);
      const dims = bad === 0 ? g.pick([3, 0, -2, s.D + 2 - (s.D % 2), 'NaN', 1.5]) : 2 * Math.max(1, Math.floor(s.D / 2));
      const base = bad === 1 ? g.pick([0, 'NaN', -1, 'Infinity', 'str:x', 1e39]) : 10000;
      const offset = bad === 2 ? g.pick([2 ** 31, 'NaN', 1.5, -(2 ** 31) - 1, 'undefined']) : g.int(0, 100);
      return [{ op: 'rope', v: 'object', dims, base, offset, interleaved: g.bool() }, bad !== 3 || s.D === 1];
    }
    default: {
      if (g.bool(0.3)) return [{ op: 'argsReplace', v: g.pick(['undefined', null, 0, 'str:args', [1]]) }, true];
      if (g.bool(0.5)) return [{ op: 'detachingGetter', victim: g.pick(['q', 'k', 'v']) }, true];
      const throws = g.bool();
      return [{ op: 'proxyArgs', throws }, throws];
    }
  }
}

/** The part of the argument object a mutation changes. */
function slotOf(m: Mut): string {
  if (m.op === 'argsReplace' || m.op === 'proxyArgs' || m.op === 'detachingGetter') return 'args';
  if (m.op === 'deleteField') return m.t === 'args' ? String(m.f) : String(m.t);
  if (m.op === 'outOverlap') return 'out';
  if (m.op === 'hugeBroadcast') return 'shapes';
  if (typeof m.t === 'string') return m.t;
  if (m.op.startsWith('mask') || /^(rowPtr|colIdx|partial|bits)/.test(m.op)) return 'mask';
  if (m.op === 'scalar') return String(m.f);
  return m.op; // lse, alibi, rope
}

function specs(g: Gen, n: number): Spec[] {
  const out: Spec[] = [];
  for (let i = 0; i < n; i++) {
    const Hkv = g.int(1, 2);
    const Sk = g.bool(0.8) ? g.int(1, 70) : g.int(1, 140);
    const s: Spec = {
      i,
      B: g.int(1, 2),
      Hq: Hkv * g.int(1, 2),
      Hkv,
      Sq: g.pick([Sk, g.int(1, Sk), 1]),
      Sk,
      D: g.pick([1, 2, 4, 8, 16, 32, g.int(1, 40)]),
      dtype: g.pick([0, 0, 1, 2] as const),
      pattern: g.pick(['full', 'causal'] as const),
      seed: g.int(1, 2 ** 30),
      async: g.bool(0.35),
      muts: [],
      mustFail: false,
    };
    // one in ten is an unbroken control; the rest carry one to three mutations
    if (g.int(0, 9) > 0) {
      const k = g.pick([1, 1, 1, 2, 3]);
      const slots = new Set<string>();
      for (let j = 0; j < k; j++) {
        const [m, must] = mutation(g, s);
        // one mutation per part of the arguments, so that none undoes another
        const slot = slotOf(m);
        if (slots.has(slot) || (slots.size > 0 && slot === 'args')) continue;
        slots.add(slot);
        s.muts.push(m);
        s.mustFail ||= must;
      }
    }
    out.push(s);
  }
  return out;
}

interface Line {
  i?: number;
  phase: 'start' | 'end' | 'done';
  ok?: boolean;
  noop?: boolean;
  guards?: boolean;
  maxErr?: number;
  maxRssMiB?: number;
  error?: { name: string; ctor: string; message: string; sync: boolean };
}

/** Messages that betray an unchecked argument rather than a deliberate check. */
const ACCIDENTAL = /out of memory|bad_alloc|unknown error|Cannot read propert|is not a function|Maximum call stack/i;

function runChild(list: Spec[]): { lines: Line[]; status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const input = list.map((s) => JSON.stringify(s)).join('\n') + '\n';
  // 4 GiB of address space: a runaway allocation fails (or is reported) instead of exhausting the
  // machine. Under AddressSanitizer (ATTNFLOW_FUZZ_PRELOAD=libasan.so with ATTNFLOW_ADDON_PATH=a
  // sanitized addon: .ci/sanitize --addon), which reserves terabytes of shadow memory, there is no
  // limit; ASan reports any out-of-bounds access and aborts the child.
  const preload = process.env.ATTNFLOW_FUZZ_PRELOAD;
  const limit = preload ? '' : 'ulimit -v 4194304 && ';
  const env = preload
    ? { ...process.env, LD_PRELOAD: preload, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=0:abort_on_error=1:halt_on_error=1', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'halt_on_error=1:print_stacktrace=1' }
    : process.env;
  const res = spawnSync('/bin/sh', ['-c', `${limit}exec "${process.execPath}" "${CHILD}"`], {
    cwd: ROOT,
    env,
    input,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  const lines = (res.stdout ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
  return { lines, status: res.status, signal: res.signal, stderr: res.stderr ?? '' };
}

describe('native binding fuzz (child process)', () => {
  it('malformed argument objects throw or reject with a message; nothing crashes, overruns or runs away', () => {
    loadNative(); // the addon must load here first (a clear failure if it is not built)
    const g = new Gen(SEED);
    const list = specs(g, cases(4000));
    const { lines, status, signal, stderr } = runChild(list);
    const preloaded = process.env.ATTNFLOW_FUZZ_PRELOAD !== undefined;
    const failures: string[] = [];
    if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(stderr)) failures.push(`sanitizer report:\n${stderr.slice(-4000)}`);
    const tally = new Tally();
    const ends = new Map<number, Line>();
    let lastStart = -1;
    for (const l of lines) {
      if (l.phase === 'start') lastStart = l.i!;
      if (l.phase === 'end') ends.set(l.i!, l);
    }
    const done = lines.find((l) => l.phase === 'done');
    if (!done || status !== 0) {
      // died inside the call of the last case started, or while building the one after it
      const at = ends.has(lastStart) ? lastStart + 1 : lastStart;
      const spec = list.find((s) => s.i === at);
      failures.push(`the child died (status ${status}, signal ${signal}) ${at === lastStart ? 'during' : 'while preparing'} case ${at}: ${JSON.stringify(spec)}\n${stderr.slice(-2000)}`);
    }
    for (const s of list) {
      const e = ends.get(s.i);
      if (!e) continue;
      const name = `${s.async ? 'attention' : 'attentionSync'}${s.muts.length ? ` ${s.muts.map((m) => m.op).join('+')}` : ' (control)'}`;
      tally.add(name.split(' ')[0] + (s.muts.length ? '' : ' control'), !e.ok);
      const where = `case ${s.i} ${name} ${JSON.stringify(s)}`;
      const detaches = s.muts.some((m) => m.op === 'detachingGetter');
      if (!e.guards && !detaches) failures.push(`${where}: wrote outside out / lse (guard zone changed)`);
      if (e.ok) {
        if (s.mustFail && !e.noop) failures.push(`${where}: accepted a call that must fail`);
        if (s.muts.length === 0 && s.dtype === 0 && !(e.maxErr! <= 1e-5)) failures.push(`${where}: control differs from the naive attention by ${e.maxErr}`);
        continue;
      }
      const err = e.error!;
      if (s.muts.length === 0) failures.push(`${where}: control call failed: ${err.message}`);
      if (!['TypeError', 'Error', 'RangeError'].includes(err.ctor)) failures.push(`${where}: threw a ${err.ctor}`);
      if (err.message.trim().length < 8 || ACCIDENTAL.test(err.message)) failures.push(`${where}: unclear error: ${err.message}`);
    }
    if (done && !preloaded && !(done.maxRssMiB! < 1024)) failures.push(`the child's peak RSS was ${done.maxRssMiB} MiB`);
    console.log(tally.report(`native binding fuzz (seed ${SEED}), child peak RSS ${done?.maxRssMiB?.toFixed(0)} MiB:`));
    expect(failures, failureReport(failures, SEED)).toEqual([]);
    expect(ends.size).toBe(list.length);
  }, 150_000);
});
