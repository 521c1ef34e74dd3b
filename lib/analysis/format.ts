/** The human-readable report of one analysis (`attnflow analyze` without --json). */
import type { Analysis } from './analyze.js';

function fmtNum(x: number): string {
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return x.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

function pct(x: number): string {
  const p = 100 * x;
  return p === 0 || p >= 10 ? `${p.toFixed(p === 100 || p === 0 ? 0 : 1)}%` : `${p.toPrecision(2)}%`;
}

function layersText(n: number): string {
  return `${n} layer${n === 1 ? '' : 's'}`;
}

/** The table `attnflow analyze` prints. */
export function formatAnalysis(a: Analysis): string {
  const T = a.seqLen;
  const sampled = a.queries < T;
  const over = sampled ? ` (over ${fmtNum(a.queries)} sampled queries)` : '';
  const tileFrom = a.tileSource === 'option' ? '' : a.tileSource === 'documented' ? ', the backends’ documented tile' : `, the ${a.tileSource} backend’s tile`;
  const lines = [
    a.stack.length === 1 ? `pattern          ${a.pattern}` : `layer patterns   ${a.stack.length}, cycled: ${a.pattern}`,
    `sequence         n = ${fmtNum(T)}, ${layersText(a.layers)}${a.head ? `, head ${a.head}` : ''}`,
    `edges            ${fmtNum(a.edges)}${a.stack.length > 1 ? ' per layer' : ''} (density ${pct(a.density)})`,
    `neighborhood     min ${fmtNum(a.neighborhood.min)} · mean ${fmtNum(a.neighborhood.mean)} · max ${fmtNum(a.neighborhood.max)}`,
    `full depth       ${a.fullDepth === null ? `not within ${layersText(a.layers)}` : layersText(a.fullDepth)}: every token's receptive field is its whole prefix${over}`,
    `saturation       ${a.saturationDepth === null ? `not within ${layersText(a.layers)}` : `after ${layersText(a.saturationDepth)}`}: no receptive field grows any more${over}`,
    `tile efficiency  ${pct(a.tileEfficiency)} of computed elements are allowed (tiles ${a.tile.blockQ}×${a.tile.blockK}${tileFrom})`,
  ];
  if (a.layers > 0) {
    lines.push('', `receptive field after each layer (tokens; coverage = share of the query's prefix${sampled ? ', worst over the sampled queries' : ''}):`);
    const head = ['layer', 'last query', '', 'smallest', 'worst coverage'];
    const rows: string[][] = [];
    const show = (l: number) => {
      const last = a.receptiveField.last[l - 1];
      const min = a.receptiveField.min[l - 1];
      rows.push([String(l), fmtNum(last), pct(last / T), fmtNum(min), pct(a.receptiveField.minCoverage[l - 1])]);
    };
    const L = a.layers;
    if (L <= 40) for (let l = 1; l <= L; l++) show(l);
    else {
      for (let l = 1; l <= 16; l++) show(l);
      rows.push(['…', '', '', '', '']);
      for (let l = L - 7; l <= L; l++) show(l);
    }
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const fmtRow = (r: string[]) => r.map((s, c) => s.padStart(widths[c])).join('  ').trimEnd();
    lines.push(fmtRow(head));
    for (const r of rows) lines.push(fmtRow(r));
  }
  return lines.join('\n');
}
