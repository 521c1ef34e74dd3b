/**
 * The one registry of named patterns: every primitive, combinator and preset the language and the
 * `patterns` factories know, with the arguments it takes (for the parser's messages) and how it is
 * built. parsePattern (parse.ts) and the `patterns` object (index.ts) both build through it.
 */
import { DifferencePattern, IntersectPattern, PerHeadPattern, UnionPattern } from './combinators.js';
import type { PatternNode } from './node.js';
import {
  BlockPattern,
  CausalPattern,
  DilatedPattern,
  DocsPattern,
  FullPattern,
  GlobalPattern,
  GroupedPattern,
  LogPattern,
  PrefixPattern,
  SinkPattern,
  SlidingPattern,
  StridedPattern,
  SummaryPattern,
  WindowPattern,
} from './primitives.js';
import { bigbird, dsa, longformer, sparseTransformer, streaming } from './presets.js';
import { RandomBlocksPattern, RandomPattern } from './random.js';

export interface NumSpec {
  kind: 'num';
  /** parameter names; a trailing '…' marks a variadic last parameter */
  params: string[];
  min: number;
  build(args: number[]): PatternNode;
}
export interface PatSpec {
  kind: 'pat';
  min: number;
  max: number;
  build(args: PatternNode[]): PatternNode;
}
export type Spec = NumSpec | PatSpec;

const num = (params: string[], min: number, build: (a: number[]) => PatternNode): NumSpec => ({
  kind: 'num',
  params,
  min,
  build,
});

/** Every name of the pattern language: its arguments and how it is built. */
export const PATTERN_SPECS: Readonly<Record<string, Spec>> = {
  full: num([], 0, () => new FullPattern()),
  causal: num([], 0, () => new CausalPattern()),
  log: num([], 0, () => new LogPattern()),
  window: num(['left', 'right'], 1, (a) => new WindowPattern(a[0], a.length > 1 ? a[1] : 0)),
  sliding: num(['w'], 1, (a) => new SlidingPattern(a[0])),
  dilated: num(['w', 'd'], 2, (a) => new DilatedPattern(a[0], a[1])),
  strided: num(['s'], 1, (a) => new StridedPattern(a[0])),
  summary: num(['s', 'c'], 1, (a) => new SummaryPattern(a[0], a.length > 1 ? a[1] : 1)),
  global: num(['g…'], 1, (a) => new GlobalPattern(a)),
  sink: num(['n'], 1, (a) => new SinkPattern(a[0])),
  block: num(['b'], 1, (a) => new BlockPattern(a[0])),
  docs: num(['len…'], 1, (a) => new DocsPattern(a)),
  prefix: num(['n'], 1, (a) => new PrefixPattern(a[0])),
  random: num(['k', 'seed'], 2, (a) => new RandomPattern(a[0], a[1])),
  randomBlocks: num(['r', 'b', 'seed'], 3, (a) => new RandomBlocksPattern(a[0], a[1], a[2])),
  grouped: num(['stride', 'w'], 2, (a) => new GroupedPattern(a[0], a[1])),
  longformer: num(['w', 'g…'], 1, (a) => longformer(a[0], ...a.slice(1))),
  bigbird: num(['w', 'r', 'g…'], 2, (a) => bigbird(a[0], a[1], ...a.slice(2))),
  sparseTransformer: num(['s'], 1, (a) => sparseTransformer(a[0])),
  streaming: num(['sinks', 'w'], 2, (a) => streaming(a[0], a[1])),
  dsa: num(['w', 'stride', 'g…'], 2, (a) => dsa(a[0], a[1], ...a.slice(2))),
  union: { kind: 'pat', min: 2, max: Infinity, build: (a) => new UnionPattern(a) },
  intersect: { kind: 'pat', min: 2, max: Infinity, build: (a) => new IntersectPattern(a) },
  difference: { kind: 'pat', min: 2, max: 2, build: (a) => new DifferencePattern(a[0], a[1]) },
  perHead: { kind: 'pat', min: 1, max: Infinity, build: (a) => new PerHeadPattern(a) },
};

/** The names the language knows. */
export const PATTERN_NAMES: readonly string[] = Object.keys(PATTERN_SPECS);


/** Builds the named pattern from number arguments (constructors check them). */
export function buildNumeric(name: string, args: number[]): PatternNode {
  return (PATTERN_SPECS[name] as NumSpec).build(args);
}

/** Builds the named combinator from its parts. */
export function buildCombinator(name: string, parts: PatternNode[]): PatternNode {
  return (PATTERN_SPECS[name] as PatSpec).build(parts);
}
