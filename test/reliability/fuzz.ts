/**
 * Shared machinery of the reliability suites: a seeded case generator (lib/rng.ts, so every
 * failure names a seed and a case number that reproduce it), generators of malformed values, and
 * the judge of an outcome — a call either returns or throws a *clear* error: a TypeError,
 * RangeError or SyntaxError, or an Error whose message names what was wrong, never an accident
 * of the implementation ("Cannot read properties of undefined", "x is not a function", …).
 *
 * The seed comes from ATTNFLOW_FUZZ_SEED when set (to replay a failure), else a fixed one per
 * suite; ATTNFLOW_FUZZ_SCALE multiplies the number of cases (e.g. 10 for a long soak).
 */
import { writeSync } from 'node:fs';
import { Rng } from '../../lib/rng.js';
import { Tensor, type DType } from '../../lib/tensor.js';

export const SEED_FROM_ENV = process.env.ATTNFLOW_FUZZ_SEED === undefined ? undefined : Number(process.env.ATTNFLOW_FUZZ_SEED);
/** ATTNFLOW_FUZZ_TRACE=1: print every case to stderr before running it (to find a hang or a crash) */
export const TRACE = process.env.ATTNFLOW_FUZZ_TRACE === '1';

export function trace(where: string): void {
  if (TRACE) writeSync(2, `${where}\n`);
}

export const SCALE = Math.max(0.01, Number(process.env.ATTNFLOW_FUZZ_SCALE ?? 1) || 1);

/** The suite's seed: ATTNFLOW_FUZZ_SEED if given, else `fallback`. */
export function suiteSeed(fallback: number): number {
  return SEED_FROM_ENV ?? fallback;
}

/** n scaled by ATTNFLOW_FUZZ_SCALE (at least 1). */
export function cases(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

/** Rng with the small conveniences case generators need. */
export class Gen {
  readonly rng: Rng;
  constructor(readonly seed: number) {
    this.rng = new Rng(seed);
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + this.rng.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.rng.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)];
  }
  normal(): number {
    return this.rng.normal();
  }
  /** a copy of xs in random order */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** Values of every JS type, valid as nothing in particular. */
export function junkValues(): unknown[] {
  const f = () => 1;
  return [
    undefined,
    null,
    true,
    false,
    0,
    -0,
    1,
    -1,
    0.5,
    -7.25,
    NaN,
    Infinity,
    -Infinity,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    1e300,
    Number.MIN_VALUE,
    '',
    '4',
    'abc',
    'causal',
    'float32',
    'bhsd',
    10n,
    Symbol('junk'),
    f,
    [],
    [1, 2, 3],
    [1, 1, 1, 1],
    ['1', '2'],
    [NaN],
    {},
    { length: 4 },
    { valueOf: () => 4 },
    { toString: () => 'causal' },
    Object.create(null),
    new Date(0),
    /re/,
    new Map(),
    new Float32Array(4),
    new Float64Array(4),
    new Uint16Array(4),
    new Int32Array(4),
    new Uint8Array(4),
    new ArrayBuffer(16),
    new DataView(new ArrayBuffer(16)),
    Promise.resolve(1),
    new Error('x'),
  ];
}

export function junk(g: Gen): unknown {
  return g.pick(junkValues());
}

/** Printable description of any value for failure messages. */
export function show(x: unknown): string {
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'symbol') return x.toString();
  if (typeof x === 'function') return 'function';
  if (x instanceof Tensor) return String(x);
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${(x as unknown as { length?: number }).length ?? x.byteLength})`;
  if (typeof x === 'number') return Object.is(x, -0) ? '-0' : String(x);
  try {
    const s = JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
    if (s === undefined) return String(x);
    return s.length > 200 ? s.slice(0, 200) + '…' : s;
  } catch {
    return Object.prototype.toString.call(x);
  }
}

/** Messages that betray an unchecked argument rather than a deliberate check. */
const ACCIDENTAL = [
  /Cannot read propert/i,
  /Cannot set propert/i,
  /Cannot convert/i,
  /Cannot mix BigInt/i,
  /is not a function/i,
  /is not iterable/i,
  /is not a constructor/i,
  /undefined is not/i,
  /null is not/i,
  /Maximum call stack/i,
  /Invalid array length/i,
  /Invalid typed array length/i,
  /Array buffer allocation failed/i,
  /out of memory/i,
  /Reduce of empty array/i,
  /private member/i,
  /\[object Object\]/,
];

/**
 * Why an error is not a clear one, or null when it is: a TypeError / RangeError / SyntaxError
 * or another Error with a message of its own, none of them an accidental one.
 */
export function unclear(e: unknown): string | null {
  if (!(e instanceof Error)) return `threw a non-Error: ${show(e)}`;
  const msg = e.message;
  if (typeof msg !== 'string' || msg.trim().length < 8) return `${e.name} with an empty or tiny message: ${show(msg)}`;
  for (const re of ACCIDENTAL) if (re.test(msg)) return `${e.name} that looks accidental: ${msg.split('\n')[0]}`;
  if (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError) return null;
  if (e.name !== 'Error' && !(e.constructor && e.constructor !== Error)) return `unexpected error class ${e.name}: ${msg}`;
  return null;
}

/** Tally of cases per function, printed by each suite and checked against minimums. */
export class Tally {
  readonly ok = new Map<string, number>();
  readonly threw = new Map<string, number>();
  add(fn: string, threw: boolean): void {
    const m = threw ? this.threw : this.ok;
    m.set(fn, (m.get(fn) ?? 0) + 1);
  }
  total(fn: string): number {
    return (this.ok.get(fn) ?? 0) + (this.threw.get(fn) ?? 0);
  }
  names(): string[] {
    return [...new Set([...this.ok.keys(), ...this.threw.keys()])].sort();
  }
  report(title: string): string {
    const rows = this.names().map((n) => `  ${n.padEnd(28)} ${String(this.total(n)).padStart(6)}  (${this.ok.get(n) ?? 0} returned, ${this.threw.get(n) ?? 0} threw)`);
    return `${title}\n${rows.join('\n')}`;
  }
}

/**
 * Runs one fuzz case: `fn` must return (then `check`, if given, judges the value) or throw a
 * clear error. Failures are collected (not thrown) so one run reports every bad case with its
 * seed and index.
 */
export function judge(
  failures: string[],
  tally: Tally,
  name: string,
  where: string,
  fn: () => unknown,
  check?: (value: unknown) => string | null,
): void {
  let value: unknown;
  trace(where);
  try {
    value = fn();
  } catch (e) {
    tally.add(name, true);
    const why = unclear(e);
    if (why) failures.push(`${where} [${name}]: ${why}`);
    return;
  }
  tally.add(name, false);
  if (check) {
    let why: string | null;
    try {
      why = check(value);
    } catch (e) {
      why = `checking the result threw ${(e as Error)?.message ?? String(e)}`;
    }
    if (why) failures.push(`${where} [${name}]: ${why}`);
  }
}

/** judge() for a function that may return a promise (awaited). */
export async function judgeAsync(
  failures: string[],
  tally: Tally,
  name: string,
  where: string,
  fn: () => unknown,
  check?: (value: unknown) => string | null,
): Promise<void> {
  let value: unknown;
  trace(where);
  try {
    value = await fn();
  } catch (e) {
    tally.add(name, true);
    const why = unclear(e);
    if (why) failures.push(`${where} [${name}]: ${why}`);
    return;
  }
  tally.add(name, false);
  if (check) {
    let why: string | null;
    try {
      why = check(value);
    } catch (e) {
      why = `checking the result threw ${(e as Error)?.message ?? String(e)}`;
    }
    if (why) failures.push(`${where} [${name}]: ${why}`);
  }
}

/**
 * Bugs this suite found in files outside its own, not fixed yet. Fuzz failures matching one are
 * reported as warnings instead of failing the run; each is also pinned by a test in
 * known-issues.test.ts that asserts the right behaviour with `it.fails`, so the fix shows up as a
 * failure there: then delete the entry here and turn `it.fails` into `it`.
 */
export interface KnownIssue {
  id: string;
  /** the file to fix */
  file: string;
  match: RegExp;
}

// None open. Add one as { id, file, match } (match: a RegExp over the failure line, e.g.
// /\[Tensor\.zeros\]: RangeError that looks accidental: …/) with an it.fails test in known-issues.test.ts.
export const KNOWN_ISSUES: readonly KnownIssue[] = [];

/** Splits failures into new ones and known issues (counted by id). */
export function triage(failures: readonly string[]): { fresh: string[]; known: Map<string, number> } {
  const fresh: string[] = [];
  const known = new Map<string, number>();
  for (const f of failures) {
    const k = KNOWN_ISSUES.find((i) => i.match.test(f));
    if (k) known.set(k.id, (known.get(k.id) ?? 0) + 1);
    else fresh.push(f);
  }
  return { fresh, known };
}

/** The failures that are not known issues (warning about the known ones on stderr). */
export function freshFailures(failures: readonly string[], label: string): string[] {
  const { fresh, known } = triage(failures);
  if (known.size > 0) {
    console.warn(`${label}: known issues hit (see known-issues.test.ts): ${[...known].map(([id, n]) => `${id} ×${n}`).join(', ')}`);
  }
  return fresh;
}

/** Formats collected failures (the first few) for an assertion message. */
export function failureReport(failures: string[], seed: number, max = 25): string {
  if (failures.length === 0) return '';
  return (
    `${failures.length} bad case(s) (seed ${seed}; replay with ATTNFLOW_FUZZ_SEED=${seed}):\n` +
    failures.slice(0, max).join('\n') +
    (failures.length > max ? `\n… and ${failures.length - max} more` : '')
  );
}

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

/** Resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / (1 << 20);
}

/** Poison value of an output element (NaN in every dtype). */
export function poison(t: Tensor): void {
  const d = t.data;
  if (d instanceof Float32Array) d.fill(NaN);
  else d.fill(t.dtype === 'float16' ? 0x7e00 : 0x7fc0);
}

export function isPoisoned(t: Tensor): boolean {
  const d = t.data;
  if (d instanceof Float32Array) return d.every((x) => Number.isNaN(x));
  const p = t.dtype === 'float16' ? 0x7e00 : 0x7fc0;
  return d.every((x) => x === p);
}
