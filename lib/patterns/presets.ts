/**
 * Presets: named patterns from the literature, built from the primitives. Each prints as its own
 * call (so it round-trips through parsePattern) and behaves exactly as the expansion documented
 * here.
 */
import { checkInt } from './errors.js';
import { IntersectPattern, PresetPattern, UnionPattern } from './combinators.js';
import type { PatternNode } from './node.js';
import {
  CausalPattern,
  GlobalPattern,
  GroupedPattern,
  SinkPattern,
  SlidingPattern,
  StridedPattern,
  WindowPattern,
} from './primitives.js';
import { RandomBlocksPattern } from './random.js';

function union(parts: PatternNode[]): PatternNode {
  return parts.length === 1 ? parts[0] : new UnionPattern(parts);
}

function checkGlobals(fn: string, g: readonly number[], first: number): void {
  g.forEach((x, i) => checkInt(fn, `global position #${i}`, first + i, x, 0));
}

/**
 * Longformer (Beltagy et al. 2020), bidirectional: a sliding window of w keys in all, ⌊w/2⌋ on
 * each side of the query, plus global tokens —
 * `longformer(w, g…) = window(⌊w/2⌋, ⌊w/2⌋) | global(g…)` (no global part when g is empty).
 * Intersect with causal (or pass `causal: true`) for the autoregressive variant.
 */
export function longformer(w: number, ...g: number[]): PatternNode {
  checkInt('longformer', 'w', 0, w, 1);
  checkGlobals('longformer', g, 1);
  const half = Math.floor(w / 2);
  const parts: PatternNode[] = [new WindowPattern(half, half)];
  if (g.length > 0) parts.push(new GlobalPattern(g));
  return new PresetPattern('longformer', [w, ...g], union(parts));
}

/**
 * BigBird (Zaheer et al. 2020), with w read as BigBird's block size: a token-level window of w keys
 * on each side (the counterpart of BigBird's three-block window), r random key blocks of size w per
 * query block (drawn with seed 0; see `randomBlocks`), and global tokens —
 * `bigbird(w, r, g…) = window(w, w) | randomBlocks(r, w, 0) | global(g…)` (no random part when
 * r = 0, no global part when g is empty). Random blocks are drawn among blocks that do not lie
 * ahead of the query's own block.
 */
export function bigbird(w: number, r: number, ...g: number[]): PatternNode {
  checkInt('bigbird', 'w', 0, w, 1);
  checkInt('bigbird', 'r', 1, r, 0);
  checkGlobals('bigbird', g, 2);
  const parts: PatternNode[] = [new WindowPattern(w, w)];
  if (r > 0) parts.push(new RandomBlocksPattern(r, w, 0));
  if (g.length > 0) parts.push(new GlobalPattern(g));
  return new PresetPattern('bigbird', [w, r, ...g], union(parts));
}

/**
 * Sparse Transformer, strided variant (Child et al. 2019), causal: the previous s keys (including
 * the query) and every s-th key before them —
 * `sparseTransformer(s) = sliding(s) | strided(s)`.
 */
export function sparseTransformer(s: number): PatternNode {
  checkInt('sparseTransformer', 's', 0, s, 1);
  return new PresetPattern('sparseTransformer', [s], new UnionPattern([new SlidingPattern(s), new StridedPattern(s)]));
}

/**
 * StreamingLLM (Xiao et al. 2023): `sinks` attention-sink tokens plus the w most recent keys,
 * causal — `streaming(sinks, w) = causal & (sliding(w) | sink(sinks))`, or `sliding(w)` when
 * sinks = 0.
 */
export function streaming(sinks: number, w: number): PatternNode {
  checkInt('streaming', 'sinks', 0, sinks, 0);
  checkInt('streaming', 'w', 1, w, 1);
  const expansion =
    sinks === 0
      ? new SlidingPattern(w)
      : new IntersectPattern([new CausalPattern(), new UnionPattern([new SlidingPattern(w), new SinkPattern(sinks)])]);
  return new PresetPattern('streaming', [sinks, w], expansion);
}

/**
 * DSA-style sparse attention (the `grouped` primitive's "group representatives"), causal: the w
 * most recent keys, then one representative key per group of `stride` keys beyond the window (the
 * keys p − w, p − w − stride, …, down to key 0), plus global tokens —
 * `dsa(w, stride, g…) = causal & (sliding(w) | grouped(stride, w) | global(g…))` (no global part
 * when g is empty). Global tokens read every earlier key and are read by every
 * later query.
 */
export function dsa(w: number, stride: number, ...g: number[]): PatternNode {
  checkInt('dsa', 'w', 0, w, 1);
  checkInt('dsa', 'stride', 1, stride, 1);
  checkGlobals('dsa', g, 2);
  const parts: PatternNode[] = [new SlidingPattern(w), new GroupedPattern(stride, w)];
  if (g.length > 0) parts.push(new GlobalPattern(g));
  return new PresetPattern('dsa', [w, stride, ...g], new IntersectPattern([new CausalPattern(), new UnionPattern(parts)]));
}
