/**
 * The information-flow chart of `attnflow analyze --compare --svg`: the worst receptive-field
 * coverage over queries, min_t |RF_l(t) ∩ [0, t]| / (t + 1), against depth l, one line per
 * pattern, with a legend. Plain SVG 1.1, no scripts, no external fonts.
 */
import { escapeXml } from './svg.js';

export interface CoverageSeries {
  label: string;
  /** coverage after layers 1..L (depth 0 is drawn at 1/seqLen) */
  coverage: readonly number[];
  /** the depth at which coverage reaches 1, marked on the line; null when it does not */
  fullDepth: number | null;
}

export interface CoverageChartOptions {
  seqLen: number;
  layers: number;
  title?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
/** every other line dashed, so that lines on top of each other stay visible */
const DASH = ['', '8 4', '3 3'];
const TEXT = '#1f2937';
const MUTED = '#6b7280';
const GRID = '#e5e7eb';

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** Round tick step for a range of `span` with about `n` ticks. */
function tickStep(span: number, n: number): number {
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Draws the chart (see the file comment). */
export function renderCoverageChart(series: readonly CoverageSeries[], { seqLen, layers, title }: CoverageChartOptions): string {
  const W = 760;
  const legendRows = series.length;
  const plotH = 360;
  const left = 64;
  const right = 24;
  const top = title ? 48 : 24;
  const plotW = W - left - right;
  const legendTop = top + plotH + 52;
  const H = legendTop + legendRows * 20 + 16;
  const xMax = Math.max(1, layers);
  const x = (l: number) => left + (l / xMax) * plotW;
  const y = (c: number) => top + (1 - c) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  );
  if (title) out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" fill="${TEXT}">${escapeXml(title)}</text>`);
  // grid and axes
  for (let c = 0; c <= 100; c += 20) {
    const yy = y(c / 100);
    out.push(`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="${GRID}"/>`);
    out.push(`<text x="${left - 8}" y="${yy + 4}" text-anchor="end" fill="${MUTED}">${c}%</text>`);
  }
  const step = Math.max(1, tickStep(xMax, 8));
  for (let l = 0; l <= xMax; l += step) {
    const xx = x(l);
    out.push(`<line x1="${xx}" y1="${top}" x2="${xx}" y2="${top + plotH}" stroke="${GRID}"/>`);
    out.push(`<text x="${xx}" y="${top + plotH + 18}" text-anchor="middle" fill="${MUTED}">${fmt(l)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="${MUTED}"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${top + plotH + 38}" text-anchor="middle" fill="${TEXT}">layers (depth)</text>`);
  out.push(
    `<text x="16" y="${top + plotH / 2}" text-anchor="middle" fill="${TEXT}" transform="rotate(-90 16 ${top + plotH / 2})">worst coverage of the prefix, min over queries</text>`,
  );
  // lines
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    const dash = DASH[k % DASH.length];
    const pts = [[x(0), y(1 / seqLen)]];
    s.coverage.forEach((c, l) => pts.push([x(l + 1), y(c)]));
    const d = pts.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    if (s.fullDepth !== null && s.fullDepth <= layers) {
      out.push(`<circle cx="${x(s.fullDepth).toFixed(1)}" cy="${y(1).toFixed(1)}" r="4" fill="${color}"/>`);
    }
    const ly = legendTop + k * 20;
    out.push(`<line x1="${left}" y1="${ly}" x2="${left + 28}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    const last = s.coverage.length > 0 ? s.coverage[s.coverage.length - 1] : 1 / seqLen;
    const note = s.fullDepth === null ? `${(100 * last).toPrecision(3)}% after ${layers}` : `full after ${s.fullDepth}`;
    out.push(`<text x="${left + 36}" y="${ly + 4}" fill="${TEXT}">${escapeXml(s.label)} <tspan fill="${MUTED}">(${escapeXml(note)})</tspan></text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
