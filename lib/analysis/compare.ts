/**
 * Seed 001 §8.6's comparison of attention variants — neighborhood size, cost, receptive-field
 * growth and the depth to full information flow — measured instead of asserted: every row is an
 * `analyze` of one pattern (or layer stack) at the same sequence length and depth.
 *
 * Growth shape: the last query's receptive field r_0 = 1, r_1, …, r_L is fitted over its growth
 * phase — the layers up to the first whose field reaches half of r_L (its plateau, or where it
 * stands after L layers), before the prefix running out bends every curve — by a line
 * r ≈ a + b·l and by an exponential r ≈ c·q^l; the model with the smaller squared error of log r
 * wins, and its rate (b tokens per layer, or ×q per layer) is reported. A field that reaches half
 * its plateau in one layer is 'immediate', one that never grows 'none'.
 */
import type { Pattern } from '../patterns/pattern.js';
import { analyze, type Analysis, type AnalyzeOptions } from './analyze.js';

export type GrowthShape = 'linear' | 'exponential' | 'immediate' | 'none';

export interface Growth {
  shape: GrowthShape;
  /** tokens per layer (linear), factor per layer (exponential), the field after one layer (immediate), 0 (none) */
  rate: number;
  /** the layers the fit covers (1..layers) */
  layers: number;
}

export interface ComparisonRow {
  /** the item as given (before placeholders were expanded) */
  label: string;
  analysis: Analysis;
  /** allowed pairs per layer / causal's T(T+1)/2: the attention FLOPs relative to causal */
  flopsVsCausal: number;
  growth: Growth;
  /** receptiveField.minCoverage after the last layer (1/T with no layers) */
  worstCoverage: number;
  /** wall time of the analysis */
  ms: number;
}

export interface Comparison {
  seqLen: number;
  layers: number;
  rows: ComparisonRow[];
}

function leastSquares(x: number[], y: number[]): { a: number; b: number } {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b };
}

/** Fits the growth of r_l (r[0] = r_1, …) as described in the file comment. */
export function fitGrowth(r: readonly number[]): Growth {
  const L = r.length;
  const series = [1, ...r];
  const plateau = series[L];
  if (L === 0 || plateau <= 1) return { shape: 'none', rate: 0, layers: 0 };
  const g = series.findIndex((v) => v >= 0.5 * plateau);
  if (g <= 1) return { shape: 'immediate', rate: series[1], layers: 1 };
  const xs = Array.from({ length: g + 1 }, (_, l) => l);
  const ys = series.slice(0, g + 1);
  const lin = leastSquares(xs, ys);
  const logs = ys.map(Math.log);
  const exp = leastSquares(xs, logs);
  let errLin = 0;
  let errExp = 0;
  for (let i = 0; i <= g; i++) {
    errLin += (Math.log(Math.max(1, lin.a + lin.b * xs[i])) - logs[i]) ** 2;
    errExp += (exp.a + exp.b * xs[i] - logs[i]) ** 2;
  }
  return errExp < errLin ? { shape: 'exponential', rate: Math.exp(exp.b), layers: g } : { shape: 'linear', rate: lin.b, layers: g };
}

/** One row of the comparison. */
export function compareRow(label: string, pattern: Pattern | string | readonly (Pattern | string)[], options: AnalyzeOptions): ComparisonRow {
  const t0 = performance.now();
  const analysis = analyze(pattern, options);
  const ms = performance.now() - t0;
  const T = analysis.seqLen;
  const cov = analysis.receptiveField.minCoverage;
  return {
    label,
    analysis,
    flopsVsCausal: analysis.edges / ((T * (T + 1)) / 2),
    growth: fitGrowth(analysis.receptiveField.last),
    worstCoverage: cov.length > 0 ? cov[cov.length - 1] : 1 / T,
    ms,
  };
}

function fmtInt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function fmtNum(x: number): string {
  if (Number.isInteger(x)) return fmtInt(x);
  return x >= 100 ? fmtInt(x) : x.toPrecision(3);
}

function pct(x: number): string {
  const p = 100 * x;
  if (p === 100 || p === 0) return `${p}%`;
  return p >= 10 ? `${p.toFixed(1)}%` : `${p.toPrecision(2)}%`;
}

/** The growth cell: 'linear, +255/layer', 'exponential, ×8.3/layer', 'immediate', 'none'. */
export function formatGrowth(g: Growth): string {
  switch (g.shape) {
    case 'linear':
      return `linear, +${fmtNum(g.rate)}/layer`;
    case 'exponential':
      return `exponential, ×${g.rate.toFixed(g.rate >= 10 ? 0 : 1)}/layer`;
    case 'immediate':
      return 'immediate (1 layer)';
    case 'none':
      return 'none';
  }
}

const HEAD = ['pattern', '|N(t)| min / mean / max', 'FLOPs vs causal', 'RF growth (last query)', 'full RF depth', 'saturation depth', 'worst coverage'];

function cells(r: ComparisonRow, layers: number): string[] {
  const a = r.analysis;
  const n = a.neighborhood;
  const sampled = a.queries < a.seqLen ? ` (${a.queries} queries)` : '';
  return [
    r.label,
    `${fmtNum(n.min)} / ${fmtNum(n.mean)} / ${fmtNum(n.max)}`,
    pct(r.flopsVsCausal),
    formatGrowth(r.growth),
    a.fullDepth === null ? `never (≤ ${layers})` : String(a.fullDepth),
    a.saturationDepth === null ? `> ${layers}` : String(a.saturationDepth),
    pct(r.worstCoverage) + sampled,
  ];
}

/** The comparison as an aligned text table. */
export function formatComparisonText(c: Comparison): string {
  const rows = c.rows.map((r) => cells(r, c.layers));
  const widths = HEAD.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => r.map((s, k) => (k === 0 ? s.padEnd(widths[k]) : s.padStart(widths[k]))).join('  ').trimEnd();
  return [
    `n = ${fmtInt(c.seqLen)}, ${c.layers} layer${c.layers === 1 ? '' : 's'}; worst coverage = min over queries of |RF(t) ∩ [0, t]| / (t + 1) after the last layer`,
    '',
    line(HEAD),
    ...rows.map(line),
  ].join('\n');
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The comparison as a Markdown table. */
export function formatComparisonMarkdown(c: Comparison): string {
  const rows = c.rows.map((r) => cells(r, c.layers));
  return [
    `| ${HEAD.map(mdCell).join(' | ')} |`,
    `|${HEAD.map((_, k) => (k === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map((s, k) => (k === 0 ? `\`${mdCell(s)}\`` : mdCell(s))).join(' | ')} |`),
  ].join('\n');
}
