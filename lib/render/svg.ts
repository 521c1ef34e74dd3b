/**
 * A standalone SVG picture of a mask. Short sequences (≤ 128 per side) are drawn cell by cell
 * (with index labels up to 32); longer ones are aggregated into at most 256×256 blocks of f×f
 * positions, shaded by the fraction of its pairs that are allowed (opacity 0.2 + 0.8·√fraction), from the
 * compiled mask (so 65536² masks draw in time proportional to their intervals, not their area).
 * With `tile`, the tiles the mask compiler visits are outlined (solid: full, dashed: partial).
 */
import type { Pattern } from '../patterns/pattern.js';
import type { BlockMask } from '../mask/blockmask.js';
import { compileMask } from '../mask/index.js';
import { IntervalBuffer, MaskRows } from '../analysis/rows.js';
import { backendTile } from '../analysis/tile.js';

export interface SvgShape {
  seqQ: number;
  seqK: number;
  head: number;
  tile?: { blockQ: number; blockK: number };
}

const INK = '#1d4ed8';
const PAPER = '#eef1f5';
const TEXT = '#1f2937';
const MUTED = '#6b7280';
/** sides up to this are drawn one cell per pair */
const CELL_LIMIT = 128;
/** sides up to this get an index label per row / column */
const LABEL_LIMIT = 32;
/** the most aggregated blocks per side */
const MAX_CELLS = 256;
/** the most tile outlines drawn */
const MAX_TILE_OUTLINES = 4096;

/** Opacity of a block with this fraction of allowed pairs: sparse blocks stay visible. */
function shade(fraction: number): number {
  return Math.round((0.2 + 0.8 * Math.sqrt(fraction)) * 100) / 100;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

/** Which pairs are allowed, per drawn cell: a cell is one pair, or f×f positions when aggregated. */
interface Cells {
  /** one cell per pair, every pair asked of the pattern (short sequences) */
  individual: boolean;
  /** positions per cell side */
  f: number;
  /** cells per column and per row */
  gq: number;
  gk: number;
  /** fraction of each cell's pairs that are allowed, row-major */
  frac: Float64Array;
  /** allowed pairs in all */
  edges: number;
  /** the compiled mask, when aggregation needed it */
  mask: BlockMask | null;
}

/** How the picture is laid out: cell size, margins and the text above it. */
interface Layout {
  cs: number;
  left: number;
  top: number;
  w: number;
  h: number;
  width: number;
  height: number;
  title: string;
  sub: string;
}

/** The heads a mask is compiled for so that it holds `head`'s rows, and that head's index in it. */
function maskHeads(p: Pattern, head: number): { heads: number; period: number } {
  const period = p.headPeriod > 1 ? p.headPeriod : 1;
  return { heads: period > 1 ? (head % period) + 1 : 1, period };
}

/** Every pair asked of the pattern (short sequences). */
function pairCells(p: Pattern, { seqQ, seqK, head }: SvgShape): Cells {
  const frac = new Float64Array(seqQ * seqK);
  let edges = 0;
  const off = seqK - seqQ;
  for (let i = 0; i < seqQ; i++) {
    for (let j = 0; j < seqK; j++) {
      if (p.allows(i + off, j, head)) {
        frac[i * seqK + j] = 1;
        edges++;
      }
    }
  }
  return { individual: true, f: 1, gq: seqQ, gk: seqK, frac, edges, mask: null };
}

/** Blocks of f×f positions, from the compiled mask's row intervals (long sequences). */
function blockCells(p: Pattern, { seqQ, seqK, head, tile }: SvgShape, f: number): Cells {
  const gq = Math.ceil(seqQ / f);
  const gk = Math.ceil(seqK / f);
  const frac = new Float64Array(gq * gk);
  let edges = 0;
  const { heads, period } = maskHeads(p, head);
  // without a tile to outline, read the mask compiled for the tile the CPU backend runs (likely cached)
  const mask = compileMask(p, { seqQ, seqK, heads, ...(tile ?? backendTile('cpu').tile) });
  const rows = new MaskRows(mask, head % period);
  const buf = new IntervalBuffer(64);
  for (let i = 0; i < seqQ; i++) {
    const n = rows.read(i, buf);
    const base = ((i / f) | 0) * gk;
    for (let k = 0; k < n; k++) {
      const a = buf.lo[k];
      const b = buf.hi[k];
      edges += b - a;
      for (let c = (a / f) | 0; c * f < b; c++) {
        frac[base + c] += Math.min(b, (c + 1) * f) - Math.max(a, c * f);
      }
    }
  }
  for (let r = 0; r < gq; r++) {
    const rows_ = Math.min(f, seqQ - r * f);
    for (let c = 0; c < gk; c++) frac[r * gk + c] /= rows_ * Math.min(f, seqK - c * f);
  }
  return { individual: false, f, gq, gk, frac, edges, mask };
}

function layout(name: string, shape: SvgShape, cells: Cells): Layout {
  const { seqQ, seqK, tile } = shape;
  const { individual, f, gq, gk, edges } = cells;
  const side = Math.max(seqQ, seqK);
  const labels = individual && side <= LABEL_LIMIT;
  const cs = individual ? (side <= 16 ? 30 : side <= 32 ? 18 : Math.max(4, Math.floor(512 / side))) : Math.max(2, Math.floor(640 / Math.max(gq, gk)));
  const left = labels ? 40 : 48;
  const top = (labels ? 74 : 66) + (tile ? 16 : 0);
  const w = gk * cs;
  const h = gq * cs;
  const density = edges / (seqQ * seqK);
  const sizeText = seqQ === seqK ? `n = ${seqQ}` : `seqQ = ${seqQ}, seqK = ${seqK}`;
  const title = `${name} · ${sizeText}`;
  const sub = individual
    ? `density ${(100 * density).toFixed(1)}% · ${edges} allowed pairs · row = query, column = key`
    : `density ${(100 * density).toPrecision(3)}% · each cell = ${f}×${f} positions, shade = fraction allowed`;
  // wide enough for the title (16px bold, ≈ 0.62 em per character) and the subtitle (12px)
  const width = Math.ceil(Math.max(left + w + 24, left + title.length * 10 + 16, left + sub.length * 7 + 16));
  return { cs, left, top, w, h, width, height: top + h + 40, title, sub };
}

function drawFrame(out: string[], l: Layout): void {
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${l.width}" height="${l.height}" viewBox="0 0 ${l.width} ${l.height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
  );
  out.push(`<title>${escapeXml(l.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${l.width}" height="${l.height}" fill="#ffffff"/>`);
  out.push(`<text x="${l.left}" y="24" font-size="16" font-weight="bold" fill="${TEXT}">${escapeXml(l.title)}</text>`);
  out.push(`<text x="${l.left}" y="44" font-size="12" fill="${MUTED}">${escapeXml(l.sub)}</text>`);
  out.push(`<rect x="${l.left}" y="${l.top}" width="${l.w}" height="${l.h}" fill="${PAPER}"/>`);
}

/** One square per allowed pair, and a light grid over the empty cells where they are large enough. */
function drawPairs(out: string[], c: Cells, l: Layout): void {
  const { cs, left, top, w, h } = l;
  const gap = cs >= 8 ? 1 : 0;
  out.push(`<g fill="${INK}">`);
  for (let i = 0; i < c.gq; i++) {
    for (let j = 0; j < c.gk; j++) {
      if (c.frac[i * c.gk + j] > 0) {
        out.push(`<rect x="${left + j * cs + gap / 2}" y="${top + i * cs + gap / 2}" width="${cs - gap}" height="${cs - gap}" rx="${cs >= 16 ? 3 : 0}"/>`);
      }
    }
  }
  out.push('</g>');
  if (cs >= 8) {
    out.push(`<g stroke="#ffffff" stroke-width="1">`);
    for (let j = 1; j < c.gk; j++) out.push(`<line x1="${left + j * cs}" y1="${top}" x2="${left + j * cs}" y2="${top + h}"/>`);
    for (let i = 1; i < c.gq; i++) out.push(`<line x1="${left}" y1="${top + i * cs}" x2="${left + w}" y2="${top + i * cs}"/>`);
    out.push('</g>');
  }
}

/** One rect per run of equally shaded blocks in a row. */
function drawBlocks(out: string[], c: Cells, l: Layout): void {
  const { cs, left, top } = l;
  const { gq, gk, frac } = c;
  out.push(`<g fill="${INK}">`);
  for (let r = 0; r < gq; r++) {
    let col = 0;
    while (col < gk) {
      const v = frac[r * gk + col];
      if (v <= 0) {
        col++;
        continue;
      }
      const q = shade(v);
      let e = col + 1;
      while (e < gk && frac[r * gk + e] > 0 && shade(frac[r * gk + e]) === q) e++;
      out.push(`<rect x="${left + col * cs}" y="${top + r * cs}" width="${(e - col) * cs}" height="${cs}"${q < 1 ? ` fill-opacity="${q}"` : ''}/>`);
      col = e;
    }
  }
  out.push('</g>');
}

/** Outlines of the tiles the mask compiler visits for the drawn head (solid: full, dashed: partial). */
function drawTiles(out: string[], p: Pattern, shape: SvgShape, tile: { blockQ: number; blockK: number }, c: Cells, l: Layout): void {
  const { seqQ, seqK, head } = shape;
  const { heads, period } = maskHeads(p, head);
  const mask = c.mask ?? compileMask(p, { seqQ, seqK, heads, blockQ: tile.blockQ, blockK: tile.blockK });
  const h0 = mask.heads === 1 ? 0 : (head % period) % mask.heads;
  const r0 = h0 * mask.numQBlocks;
  const total = mask.rowPtr[r0 + mask.numQBlocks] - mask.rowPtr[r0];
  if (total <= MAX_TILE_OUTLINES) {
    const sx = l.cs / c.f;
    out.push(`<g fill="none" stroke="#f97316" stroke-width="${c.individual ? 1.5 : 1}">`);
    for (let qb = 0; qb < mask.numQBlocks; qb++) {
      for (let e = mask.rowPtr[r0 + qb]; e < mask.rowPtr[r0 + qb + 1]; e++) {
        const kb = mask.colIdx[e];
        const x = l.left + kb * mask.blockK * sx;
        const y = l.top + qb * mask.blockQ * sx;
        const tw = (Math.min(seqK, (kb + 1) * mask.blockK) - kb * mask.blockK) * sx;
        const th = (Math.min(seqQ, (qb + 1) * mask.blockQ) - qb * mask.blockQ) * sx;
        out.push(`<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(tw)}" height="${fmt(th)}"${mask.partial[e] >= 0 ? ' stroke-dasharray="4 3"' : ''}/>`);
      }
    }
    out.push('</g>');
  }
  out.push(
    `<text x="${l.left}" y="62" font-size="12" fill="#c2410c">${escapeXml(
      `tiles ${mask.blockQ}×${mask.blockK}: ${total} visited${total <= MAX_TILE_OUTLINES ? ' (solid: full, dashed: partial)' : ' (too many to outline)'}`,
    )}</text>`,
  );
}

/** Index labels (short sequences) or the end indices, and the axis names. */
function drawAxes(out: string[], { seqQ, seqK }: SvgShape, labels: boolean, l: Layout): void {
  const { cs, left, top, w, h } = l;
  if (labels) {
    const fs = cs >= 24 ? 12 : 9;
    out.push(`<g font-size="${fs}" fill="${MUTED}" text-anchor="middle">`);
    for (let j = 0; j < seqK; j++) out.push(`<text x="${left + j * cs + cs / 2}" y="${top - 6}">${j}</text>`);
    out.push('</g>');
    out.push(`<g font-size="${fs}" fill="${MUTED}" text-anchor="end">`);
    for (let i = 0; i < seqQ; i++) out.push(`<text x="${left - 6}" y="${top + i * cs + cs / 2 + fs / 3}">${i}</text>`);
    out.push('</g>');
  } else {
    out.push(`<g font-size="11" fill="${MUTED}">`);
    out.push(`<text x="${left}" y="${top - 6}">0</text>`);
    out.push(`<text x="${left + w}" y="${top - 6}" text-anchor="end">${seqK - 1}</text>`);
    out.push(`<text x="${left - 6}" y="${top + 10}" text-anchor="end">0</text>`);
    out.push(`<text x="${left - 6}" y="${top + h}" text-anchor="end">${seqQ - 1}</text>`);
    out.push('</g>');
  }
  out.push(`<text x="${left + w / 2}" y="${top + h + 24}" font-size="12" fill="${MUTED}" text-anchor="middle">key j →</text>`);
  out.push(
    `<text x="${left - 30}" y="${top + h / 2}" font-size="12" fill="${MUTED}" text-anchor="middle" transform="rotate(-90 ${left - 30} ${top + h / 2})">query i →</text>`,
  );
}

export function renderSvg(p: Pattern, shape: SvgShape): string {
  const side = Math.max(shape.seqQ, shape.seqK);
  const individual = side <= CELL_LIMIT;
  const cells = individual ? pairCells(p, shape) : blockCells(p, shape, Math.ceil(side / MAX_CELLS));
  const l = layout(p.toString(), shape, cells);
  const out: string[] = [];
  drawFrame(out, l);
  if (individual) drawPairs(out, cells, l);
  else drawBlocks(out, cells, l);
  if (shape.tile) drawTiles(out, p, shape, shape.tile, cells, l);
  drawAxes(out, shape, individual && side <= LABEL_LIMIT, l);
  out.push('</svg>');
  return out.join('\n');
}
