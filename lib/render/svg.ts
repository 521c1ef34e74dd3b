/**
 * A standalone SVG picture of a mask. Short sequences (≤ 128 per side) are drawn cell by cell
 * (with index labels up to 32); longer ones are aggregated into at most 256×256 blocks of f×f
 * positions, shaded by the fraction of its pairs that are allowed (opacity 0.2 + 0.8·√fraction), from the
 * compiled mask (so 65536² masks draw in time proportional to their intervals, not their area).
 * With `tile`, the tiles the mask compiler visits are outlined (solid: full, dashed: partial).
 */
import type { Pattern } from '../patterns/pattern.js';
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

export function renderSvg(p: Pattern, { seqQ, seqK, head, tile }: SvgShape): string {
  const name = p.toString();
  const side = Math.max(seqQ, seqK);
  const individual = side <= CELL_LIMIT;
  const f = individual ? 1 : Math.ceil(side / MAX_CELLS);
  const gq = Math.ceil(seqQ / f);
  const gk = Math.ceil(seqK / f);
  const labels = individual && side <= LABEL_LIMIT;
  const cs = individual ? (side <= 16 ? 30 : side <= 32 ? 18 : Math.max(4, Math.floor(512 / side))) : Math.max(2, Math.floor(640 / Math.max(gq, gk)));

  // fraction allowed per cell, and edge count
  const frac = new Float64Array(gq * gk);
  let edges = 0;
  let mask: ReturnType<typeof compileMask> | null = null;
  const off = seqK - seqQ;
  const period = p.headPeriod > 1 ? p.headPeriod : 1;
  const heads = period > 1 ? (head % period) + 1 : 1;
  if (individual) {
    for (let i = 0; i < seqQ; i++) {
      for (let j = 0; j < seqK; j++) {
        if (p.allows(i + off, j, head)) {
          frac[i * gk + j] = 1;
          edges++;
        }
      }
    }
  } else {
    // without a tile to outline, read the mask compiled for the tile the CPU backend runs (likely cached)
    mask = compileMask(p, { seqQ, seqK, heads, ...(tile ?? backendTile('cpu').tile) });
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
  }

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
  const height = top + h + 40;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
  );
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold" fill="${TEXT}">${escapeXml(title)}</text>`);
  out.push(`<text x="${left}" y="44" font-size="12" fill="${MUTED}">${escapeXml(sub)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="${PAPER}"/>`);

  if (individual) {
    const gap = cs >= 8 ? 1 : 0;
    out.push(`<g fill="${INK}">`);
    for (let i = 0; i < seqQ; i++) {
      for (let j = 0; j < seqK; j++) {
        if (frac[i * gk + j] > 0) {
          out.push(`<rect x="${left + j * cs + gap / 2}" y="${top + i * cs + gap / 2}" width="${cs - gap}" height="${cs - gap}" rx="${cs >= 16 ? 3 : 0}"/>`);
        }
      }
    }
    out.push('</g>');
    if (cs >= 8) {
      // light cell grid over the empty cells
      out.push(`<g stroke="#ffffff" stroke-width="1">`);
      for (let j = 1; j < seqK; j++) out.push(`<line x1="${left + j * cs}" y1="${top}" x2="${left + j * cs}" y2="${top + h}"/>`);
      for (let i = 1; i < seqQ; i++) out.push(`<line x1="${left}" y1="${top + i * cs}" x2="${left + w}" y2="${top + i * cs}"/>`);
      out.push('</g>');
    }
  } else {
    // one rect per run of equally shaded cells in a row
    out.push(`<g fill="${INK}">`);
    for (let r = 0; r < gq; r++) {
      let c = 0;
      while (c < gk) {
        const v = frac[r * gk + c];
        if (v <= 0) {
          c++;
          continue;
        }
        const q = shade(v);
        let e = c + 1;
        while (e < gk && frac[r * gk + e] > 0 && shade(frac[r * gk + e]) === q) e++;
        out.push(`<rect x="${left + c * cs}" y="${top + r * cs}" width="${(e - c) * cs}" height="${cs}"${q < 1 ? ` fill-opacity="${q}"` : ''}/>`);
        c = e;
      }
    }
    out.push('</g>');
  }

  if (tile) {
    if (!mask) mask = compileMask(p, { seqQ, seqK, heads, blockQ: tile.blockQ, blockK: tile.blockK });
    const h0 = mask.heads === 1 ? 0 : (head % period) % mask.heads;
    const r0 = h0 * mask.numQBlocks;
    const total = mask.rowPtr[r0 + mask.numQBlocks] - mask.rowPtr[r0];
    if (total <= MAX_TILE_OUTLINES) {
      const sx = cs / f;
      out.push(`<g fill="none" stroke="#f97316" stroke-width="${individual ? 1.5 : 1}">`);
      for (let qb = 0; qb < mask.numQBlocks; qb++) {
        for (let e = mask.rowPtr[r0 + qb]; e < mask.rowPtr[r0 + qb + 1]; e++) {
          const kb = mask.colIdx[e];
          const x = left + kb * mask.blockK * sx;
          const y = top + qb * mask.blockQ * sx;
          const tw = (Math.min(seqK, (kb + 1) * mask.blockK) - kb * mask.blockK) * sx;
          const th = (Math.min(seqQ, (qb + 1) * mask.blockQ) - qb * mask.blockQ) * sx;
          out.push(`<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(tw)}" height="${fmt(th)}"${mask.partial[e] >= 0 ? ' stroke-dasharray="4 3"' : ''}/>`);
        }
      }
      out.push('</g>');
    }
    out.push(
      `<text x="${left}" y="62" font-size="12" fill="#c2410c">${escapeXml(
        `tiles ${mask.blockQ}×${mask.blockK}: ${total} visited${total <= MAX_TILE_OUTLINES ? ' (solid: full, dashed: partial)' : ' (too many to outline)'}`,
      )}</text>`,
    );
  }

  // axes
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
  out.push('</svg>');
  return out.join('\n');
}
