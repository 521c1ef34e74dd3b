/**
 * The benchmark chart: two log-log panels against sequence length — median time per call (ms)
 * and throughput (GFLOP/s on computed edges) — one line per backend/pattern (and head dim /
 * dtype when several were run), with a legend. Plain SVG 1.1, no scripts, no external fonts.
 */
import type { BenchReport, CaseResult } from './results.js';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const DASH: Record<string, string> = { cpu: '', 'ort-mha': '7 4', 'ort-matmul': '2 3', reference: '9 3 2 3' };
const MARKER: Record<string, string> = { cpu: 'circle', 'ort-mha': 'square', 'ort-matmul': 'triangle', reference: 'diamond' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmtSeq(n: number): string {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024}K` : String(n);
}

function fmtNum(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

interface Series {
  key: string;
  label: string;
  backend: string;
  color: string;
  /** 0 for the first (head dim, dtype) variant: filled markers; others hollow, thinner lines */
  variant: number;
  points: { x: number; time: number; gflops: number }[];
}

/** Colour by pattern; (head dim, dtype) variants share it and differ by marker fill and line width. */
function buildSeries(results: CaseResult[]): Series[] {
  const ok = results.filter((r) => r.status === 'ok' && r.medianMs !== undefined);
  const multiD = new Set(ok.map((r) => r.headDim)).size > 1;
  const multiT = new Set(ok.map((r) => r.dtype)).size > 1;
  const patternKeys: string[] = [];
  const variantKeys: string[] = [];
  for (const r of results) {
    if (!patternKeys.includes(r.canonical)) patternKeys.push(r.canonical);
    const v = `${r.headDim}|${r.dtype}`;
    if (!variantKeys.includes(v)) variantKeys.push(v);
  }
  const map = new Map<string, Series>();
  for (const r of ok) {
    const variant = variantKeys.indexOf(`${r.headDim}|${r.dtype}`);
    const key = `${r.backend}|${r.canonical}|${variant}`;
    let s = map.get(key);
    if (!s) {
      const parts = [r.backend, r.pattern];
      if (multiD) parts.push(`D=${r.headDim}`);
      if (multiT) parts.push(r.dtype);
      s = { key, label: parts.join(' · '), backend: r.backend, color: PALETTE[patternKeys.indexOf(r.canonical) % PALETTE.length], variant, points: [] };
      map.set(key, s);
    }
    s.points.push({ x: r.seq, time: r.medianMs!, gflops: r.gflops! });
  }
  for (const s of map.values()) s.points.sort((a, b) => a.x - b.x);
  const order = ['cuda', 'cpu', 'ort-mha', 'ort-matmul', 'reference'];
  const rank = (b: string) => (order.includes(b) ? order.indexOf(b) : order.length);
  // legend (and drawing) order: by variant, backend, then first appearance
  const all = [...map.values()];
  return all
    .map((s, i) => ({ s, i }))
    .sort((a, b) => a.s.variant - b.s.variant || rank(a.s.backend) - rank(b.s.backend) || a.i - b.i)
    .map((x) => x.s);
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
}

function logAxis(values: number[], base: 2 | 10): Axis {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  let lo = positive.length ? Math.min(...positive) : 1;
  let hi = positive.length ? Math.max(...positive) : 10;
  if (base === 2) {
    lo = 2 ** Math.floor(Math.log2(lo));
    hi = 2 ** Math.ceil(Math.log2(hi));
    if (lo === hi) {
      lo /= 2;
      hi *= 2;
    }
    const ticks: number[] = [];
    for (let t = lo; t <= hi * 1.0001; t *= 2) ticks.push(t);
    return { lo: lo / Math.SQRT2, hi: hi * Math.SQRT2, ticks };
  }
  const dlo = Math.floor(Math.log10(lo));
  const dhi = Math.ceil(Math.log10(hi));
  const decades = Math.max(1, dhi - dlo);
  const mult = decades <= 2 ? [1, 2, 5] : decades <= 4 ? [1, 3] : [1];
  const ticks: number[] = [];
  for (let d = dlo; d <= dhi; d++) for (const m of mult) ticks.push(m * 10 ** d);
  const inRange = ticks.filter((t) => t >= lo / 1.5 && t <= hi * 1.5);
  const alo = Math.min(lo / 1.25, inRange[0] ?? lo);
  const ahi = Math.max(hi * 1.25, inRange[inRange.length - 1] ?? hi);
  return { lo: alo, hi: ahi, ticks: inRange.length >= 2 ? inRange : ticks.filter((t) => t >= alo && t <= ahi) };
}

function marker(kind: string, x: number, y: number, color: string, hollow = false): string {
  const r = 3.5;
  const fill = hollow ? `fill="#fff" stroke="${color}" stroke-width="1.5"` : `fill="${color}"`;
  switch (kind) {
    case 'square':
      return `<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" ${fill}/>`;
    case 'triangle':
      return `<path d="M${x.toFixed(1)},${(y - r - 0.5).toFixed(1)} L${(x + r).toFixed(1)},${(y + r).toFixed(1)} L${(x - r).toFixed(1)},${(y + r).toFixed(1)} Z" ${fill}/>`;
    case 'diamond':
      return `<path d="M${x.toFixed(1)},${(y - r - 1).toFixed(1)} L${(x + r + 1).toFixed(1)},${y.toFixed(1)} L${x.toFixed(1)},${(y + r + 1).toFixed(1)} L${(x - r - 1).toFixed(1)},${y.toFixed(1)} Z" ${fill}/>`;
    default:
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" ${fill}/>`;
  }
}

function panel(
  series: Series[],
  pick: (p: Series['points'][number]) => number,
  box: { x: number; y: number; w: number; h: number },
  title: string,
  yLabel: string,
  xAxis: Axis,
): string {
  const yAxis = logAxis(series.flatMap((s) => s.points.map(pick)), 10);
  const sx = (v: number) => box.x + ((Math.log(v) - Math.log(xAxis.lo)) / (Math.log(xAxis.hi) - Math.log(xAxis.lo))) * box.w;
  const sy = (v: number) => box.y + box.h - ((Math.log(v) - Math.log(yAxis.lo)) / (Math.log(yAxis.hi) - Math.log(yAxis.lo))) * box.h;
  const o: string[] = [];
  o.push(`<text x="${box.x + box.w / 2}" y="${box.y - 12}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  o.push(`<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="#fff" stroke="#444"/>`);
  for (const t of xAxis.ticks) {
    const x = sx(t).toFixed(1);
    o.push(`<line x1="${x}" y1="${box.y}" x2="${x}" y2="${box.y + box.h}" stroke="#e3e3e3"/>`);
    o.push(`<text x="${x}" y="${box.y + box.h + 16}" text-anchor="middle" font-size="11">${fmtSeq(t)}</text>`);
  }
  for (const t of yAxis.ticks) {
    if (t < yAxis.lo || t > yAxis.hi) continue;
    const y = sy(t).toFixed(1);
    o.push(`<line x1="${box.x}" y1="${y}" x2="${box.x + box.w}" y2="${y}" stroke="#e3e3e3"/>`);
    o.push(`<text x="${box.x - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmtNum(t)}</text>`);
  }
  o.push(`<text x="${box.x + box.w / 2}" y="${box.y + box.h + 36}" text-anchor="middle" font-size="12">sequence length N (tokens, log scale)</text>`);
  const ly = box.y + box.h / 2;
  o.push(`<text x="${box.x - 48}" y="${ly}" text-anchor="middle" font-size="12" transform="rotate(-90 ${box.x - 48} ${ly})">${esc(yLabel)}</text>`);
  for (const s of series) {
    const pts = s.points.map((p) => [sx(p.x), sy(pick(p))] as const);
    const dash = DASH[s.backend] ? ` stroke-dasharray="${DASH[s.backend]}"` : '';
    if (pts.length > 1) {
      o.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.variant ? 1.25 : 2}"${dash} points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    }
    for (const [x, y] of pts) o.push(marker(MARKER[s.backend] ?? 'circle', x, y, s.color, s.variant > 0));
  }
  return o.join('\n');
}

/** The chart of a report as an SVG document. */
export function renderChart(report: BenchReport): string {
  const series = buildSeries(report.results);
  const W = 1040;
  const box1 = { x: 80, y: 70, w: 400, h: 320 };
  const box2 = { x: 600, y: 70, w: 400, h: 320 };
  const legendTop = box1.y + box1.h + 62;
  const longest = Math.max(10, ...series.map((s) => s.label.length));
  const cols = Math.max(1, Math.min(4, Math.floor((W - 60) / (50 + 7 * longest))));
  const colW = (W - 60) / cols;
  const rows = Math.ceil(series.length / cols);
  const H = legendTop + Math.max(1, rows) * 20 + 44;
  const m = report.meta;
  const b = report.config;
  const o: string[] = [];
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fafafa"/>`);
  o.push(
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(`attnflow bench — B=${b.batch}, H=${b.heads}, ${m.cpuModel} (${m.logicalCpus} CPUs)`)}</text>`,
  );
  if (series.length === 0) {
    o.push(`<text x="${W / 2}" y="${box1.y + 100}" text-anchor="middle" font-size="14">no case completed</text>`);
  } else {
    const xAxis = logAxis(series.flatMap((s) => s.points.map((p) => p.x)), 2);
    o.push(panel(series, (p) => p.time, box1, 'Time per call (median)', 'time (ms, log scale)', xAxis));
    o.push(panel(series, (p) => p.gflops, box2, 'Throughput on computed edges', 'GFLOP/s (log scale)', xAxis));
  }
  series.forEach((s, i) => {
    const x = 40 + (i % cols) * colW;
    const y = legendTop + Math.floor(i / cols) * 20;
    const dash = DASH[s.backend] ? ` stroke-dasharray="${DASH[s.backend]}"` : '';
    o.push(`<line x1="${x}" y1="${y}" x2="${x + 34}" y2="${y}" stroke="${s.color}" stroke-width="${s.variant ? 1.25 : 2}"${dash}/>`);
    o.push(marker(MARKER[s.backend] ?? 'circle', x + 17, y, s.color, s.variant > 0));
    o.push(`<text x="${x + 42}" y="${y + 4}" font-size="12">${esc(s.label)}</text>`);
  });
  o.push(
    `<text x="${W / 2}" y="${H - 14}" text-anchor="middle" font-size="11" fill="#555">${esc(
      `FLOPs = 4·B·H·D·(allowed query-key pairs); colour = pattern; line and marker = backend (solid ● cpu, dashed ■ ort-mha, dotted ▲ ort-matmul, dash-dot ◆ reference); ${m.date.slice(0, 10)}`,
    )}</text>`,
  );
  o.push('</svg>');
  return o.join('\n') + '\n';
}
