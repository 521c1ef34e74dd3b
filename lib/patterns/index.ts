/**
 * The pattern algebra: neighborhoods N(p) described by primitives, combinators and presets, as
 * functions (`patterns.sliding(256)`) or strings (`parsePattern('causal & sliding(256) | sink(4)')`).
 * Every pattern prints itself back as a string that parses to an equal pattern.
 *
 * Semantics the table in SPEC.md leaves open, as chosen here:
 *  - `window(left, right = 0)`: right defaults to 0, so `window(w)` is the causal band p − w ≤ j ≤ p.
 *  - `summary(s, c = 1)`; `sink(n)`, `sliding(w)`, `strided(s)`, `block(b)`, … need n, w, s, b ≥ 1;
 *    `prefix(n)`, `grouped(stride, w)`'s w and window sizes may be 0.
 *  - `global(g…)` and `docs(len…)` need at least one value; global positions are printed sorted
 *    and without duplicates.
 *  - `docs`: positions outside [0, Σ len) are in no document (empty rows and columns).
 *  - `random` / `randomBlocks` never read ahead of the query (or its block); seeds are integers in
 *    [0, 2^32).
 *  - `perHead(p0, …, pn−1)`: head h uses p_{h mod n} (asked about head h itself); headPeriod is the
 *    lcm of n and the parts' periods.
 *  - presets: see lib/patterns/presets.ts (longformer = window(⌊w/2⌋, ⌊w/2⌋) | global(g…), bigbird =
 *    window(w, w) | randomBlocks(r, w, 0) | global(g…), sparseTransformer = sliding(s) | strided(s),
 *    streaming = causal & (sliding(w) | sink(sinks)), dsa = causal & (sliding(w) | grouped(stride, w)
 *    | global(g…))). They print as their call.
 *  - Queries at negative positions (seqQ > seqK) are ordinary integers to every predicate.
 */
import type { Pattern } from './pattern.js';
import { PatternNode } from './node.js';
import { typeArg } from './errors.js';
import { ForeignPattern } from './combinators.js';
import { buildCombinator as combine, buildNumeric as build } from './registry.js';
import { parseNode } from './parse.js';
import { describeValue } from '../describe.js';

export type { Pattern } from './pattern.js';
export { TileClass } from './pattern.js';
export { PatternSyntaxError } from './errors.js';
export { PATTERN_NAMES } from './registry.js';

/**
 * Parses a pattern string. Throws PatternSyntaxError (`.position`, message with a caret) for
 * malformed strings and out-of-range arguments, TypeError for a non-string.
 */
export function parsePattern(s: string): Pattern {
  return parseNode(s);
}

function isPatternLike(x: unknown): x is Pattern {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.allows === 'function' && typeof o.classify === 'function' && typeof o.headPeriod === 'number';
}

/** @internal A pattern node for a Pattern or pattern string (user Patterns are wrapped). */
export function toNode(p: Pattern | string, fn = 'toPattern', index = 0): PatternNode {
  if (p instanceof PatternNode) return p;
  if (typeof p === 'string') return parseNode(p);
  if (isPatternLike(p)) {
    const period = p.headPeriod;
    if (!Number.isSafeInteger(period) || period < 1) {
      throw new RangeError(`${fn}: a pattern's headPeriod must be a positive integer, got ${describeValue(period)}`);
    }
    return new ForeignPattern(p);
  }
  throw typeArg(fn, `expected a Pattern or a pattern string, got ${p === null ? 'null' : typeof p}`, index, 'a pattern');
}

/** A Pattern for a Pattern or a pattern string (strings are parsed). */
export function toPattern(p: Pattern | string): Pattern {
  if (p instanceof PatternNode || typeof p === 'string') return toNode(p);
  if (isPatternLike(p)) return p;
  return toNode(p);
}

const nodes = (fn: string, ps: readonly (Pattern | string)[]): PatternNode[] => ps.map((p, i) => toNode(p, fn, i));

/**
 * Factory functions for every primitive, combinator and preset, built through the one registry
 * of named patterns (registry.ts) that parsePattern uses too. Numbers must be integers in range
 * (TypeError for a non-number, RangeError for NaN, fractions, negatives, zero where a size is
 * needed, …); combinators take Patterns or pattern strings.
 */
export const patterns = {
  /** every key */
  full: (): Pattern => build('full', []),
  /** j ≤ p */
  causal: (): Pattern => build('causal', []),
  /** p − left ≤ j ≤ p + right (right defaults to 0) */
  window: (left: number, right = 0): Pattern => build('window', [left, right]),
  /** the w most recent keys including the query: p − w < j ≤ p (w ≥ 1) */
  sliding: (w: number): Pattern => build('sliding', [w]),
  /** j ≤ p, (p − j) mod d = 0, (p − j)/d < w */
  dilated: (w: number, d: number): Pattern => build('dilated', [w, d]),
  /** j = p or p − j a power of two */
  log: (): Pattern => build('log', []),
  /** j ≤ p and (p − j) mod s = 0 */
  strided: (s: number): Pattern => build('strided', [s]),
  /** j mod s ≥ s − c (1 ≤ c ≤ s) */
  summary: (s: number, c = 1): Pattern => build('summary', [s, c]),
  /** j ∈ G or p ∈ G (at least one position) */
  global: (...g: number[]): Pattern => build('global', g),
  /** j < n (n ≥ 1) */
  sink: (n: number): Pattern => build('sink', [n]),
  /** ⌊p/b⌋ = ⌊j/b⌋ */
  block: (b: number): Pattern => build('block', [b]),
  /** p and j in the same document; documents of the given lengths from position 0 */
  docs: (...lens: number[]): Pattern => build('docs', lens),
  /** j < n or j ≤ p */
  prefix: (n: number): Pattern => build('prefix', [n]),
  /** k keys drawn from [0, p] per query, from (seed, p) */
  random: (k: number, seed: number): Pattern => build('random', [k, seed]),
  /** r key blocks of size b drawn from blocks 0 … ⌊p/b⌋ per query block, from (seed, ⌊p/b⌋) */
  randomBlocks: (r: number, b: number, seed: number): Pattern => build('randomBlocks', [r, b, seed]),
  /** j ≤ p − w and (p − w − j) mod stride = 0 */
  grouped: (stride: number, w: number): Pattern => build('grouped', [stride, w]),
  /** a | b | …: keys allowed by any (one pattern: that pattern) */
  union: (...ps: (Pattern | string)[]): Pattern => {
    const n = nodes('union', ps);
    if (n.length === 1) return n[0];
    return combine('union', n);
  },
  /** a & b & …: keys allowed by all (one pattern: that pattern) */
  intersect: (...ps: (Pattern | string)[]): Pattern => {
    const n = nodes('intersect', ps);
    if (n.length === 1) return n[0];
    return combine('intersect', n);
  },
  /** a − b: keys allowed by a and not by b */
  difference: (a: Pattern | string, b: Pattern | string): Pattern => {
    const n = nodes('difference', [a, b]);
    return combine('difference', n);
  },
  /** head h uses ps[h mod n] */
  perHead: (...ps: (Pattern | string)[]): Pattern => combine('perHead', nodes('perHead', ps)),
  /** window(⌊w/2⌋, ⌊w/2⌋) | global(g…) */
  longformer: (w: number, ...g: number[]): Pattern => build('longformer', [w, ...g]),
  /** window(w, w) | randomBlocks(r, w, 0) | global(g…) */
  bigbird: (w: number, r: number, ...g: number[]): Pattern => build('bigbird', [w, r, ...g]),
  /** sliding(s) | strided(s) */
  sparseTransformer: (s: number): Pattern => build('sparseTransformer', [s]),
  /** causal & (sliding(w) | sink(sinks)) */
  streaming: (sinks: number, w: number): Pattern => build('streaming', [sinks, w]),
  /** causal & (sliding(w) | grouped(stride, w) | global(g…)) */
  dsa: (w: number, stride: number, ...g: number[]): Pattern => build('dsa', [w, stride, ...g]),
};
