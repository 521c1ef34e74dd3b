import { describe, expect, it } from 'vitest';
import { renderMask } from '../lib/render/index.js';
import { parsePattern } from '../lib/patterns/index.js';
import { predicatePattern } from './helpers/flow-brute.js';

const band2 = predicatePattern('band2', (p, j) => j <= p && p - j < 2);

/** Minimal well-formedness check: one root <svg>, every tag closed in order, attributes quoted. */
function checkXml(svg: string): void {
  expect(svg.startsWith('<svg ')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let pos = 0;
  let roots = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const between = svg.slice(pos, m.index);
    expect(between).not.toMatch(/[<>]/); // no stray or malformed markup
    expect(between).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#\d+;)/);
    pos = m.index + m[0].length;
    const [, close, name, , self] = m;
    if (close) expect(stack.pop()).toBe(name);
    else if (!self) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  expect(svg.slice(pos).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

describe('renderMask: text', () => {
  it('bits: N lines of N characters', () => {
    expect(renderMask(band2, { seqLen: 4, format: 'bits' })).toBe('1000\n1100\n0110\n0011');
  });

  it('bits with fewer queries than keys aligns them bottom-right', () => {
    expect(renderMask(band2, { seqK: 4, seqQ: 2, format: 'bits' })).toBe('0110\n0011');
    expect(renderMask(band2, { seqLen: 4, seqQ: 1, format: 'bits' })).toBe('0011');
  });

  it('grid: the ✔ table with indices on top and on the left', () => {
    expect(renderMask(band2, { seqLen: 4, format: 'grid' })).toBe(
      ['  │ 0 1 2 3', '──┼────────', '0 │ ✔', '1 │ ✔ ✔', '2 │   ✔ ✔', '3 │     ✔ ✔'].join('\n'),
    );
    // grid is the default format
    expect(renderMask(band2, { seqLen: 4 })).toBe(renderMask(band2, { seqLen: 4, format: 'grid' }));
  });

  it('grid: two-digit indices keep the columns aligned', () => {
    const g = renderMask(band2, { seqLen: 12, format: 'grid' }).split('\n');
    expect(g[0]).toBe('   │  0  1  2  3  4  5  6  7  8  9 10 11');
    expect(g[1]).toBe('───┼' + '─'.repeat(36));
    expect(g[2]).toBe(' 0 │  ✔');
    expect(g[13]).toBe('11 │' + '   '.repeat(10) + '  ✔  ✔');
    expect(g).toHaveLength(14);
  });

  it('draws named patterns', () => {
    expect(renderMask('causal & sliding(2)', { seqLen: 4, format: 'bits' })).toBe('1000\n1100\n0110\n0011');
    expect(renderMask(parsePattern('sink(1) | causal & sliding(2)'), { seqLen: 4, format: 'bits' })).toBe('1000\n1100\n1110\n1011');
    expect(renderMask('full', { seqLen: 3, format: 'bits' })).toBe('111\n111\n111');
  });

  it('rejects bad options', () => {
    expect(() => renderMask(band2, { seqLen: 0, format: 'bits' })).toThrow(RangeError);
    expect(() => renderMask(band2, { seqLen: 3.5 })).toThrow(RangeError);
    expect(() => renderMask(band2, { seqLen: 4, seqQ: 5 })).toThrow(RangeError);
    expect(() => renderMask(band2, { seqLen: 5000, format: 'grid' })).toThrow(RangeError);
    expect(() => renderMask(band2, { seqLen: 4, format: 'png' as never })).toThrow(RangeError);
    expect(() => renderMask(band2, {} as never)).toThrow(TypeError);
    expect(() => renderMask('sliding(', { seqLen: 4 })).toThrow();
  });
});

describe('renderMask: svg', () => {
  it('small masks: one labelled cell per pair, and a title naming the pattern and n', () => {
    const svg = renderMask('causal & sliding(3) | sink(1)', { seqLen: 9, format: 'svg' });
    checkXml(svg);
    expect(svg).toContain('n = 9');
    expect(svg).toContain('causal &amp; sliding(3)');
    expect(svg).toMatch(/<title>[^<]*n = 9<\/title>/);
    // 9 + 8 + 7·2 sliding cells, plus sink cells in rows 3..8
    const cells = svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" rx="3"\/>/g) ?? [];
    expect(cells).toHaveLength(9 + 8 + 7 + 6);
    for (let k = 0; k < 9; k++) expect(svg).toContain(`>${k}</text>`);
  });

  it('long sequences are aggregated and shaded by the fraction allowed', () => {
    const svg = renderMask('causal', { seqLen: 512, format: 'svg' });
    checkXml(svg);
    expect(svg).toContain('n = 512');
    expect(svg).toContain('2×2 positions');
    // diagonal 2×2 blocks hold 3 of 4 pairs: opacity 0.2 + 0.8·√0.75
    expect(svg).toContain('fill-opacity="0.89"');
    const big = renderMask('causal & sliding(256) | sink(4)', { seqLen: 65536, format: 'svg' });
    checkXml(big);
    expect(big).toContain('n = 65536');
    expect(big.length).toBeLessThan(2_000_000);
  });

  it('outlines visited tiles on request', () => {
    const svg = renderMask(band2, { seqLen: 9, format: 'svg', tile: { blockQ: 4, blockK: 4 } });
    checkXml(svg);
    expect(svg).toContain('tiles 4×4: 5 visited (solid: full, dashed: partial)');
    // the 1×1 corner tile (row 8, key 8) is full; the other four are partial
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(4);
    const big = renderMask('causal', { seqLen: 4096, format: 'svg', tile: { blockQ: 128, blockK: 64 } });
    checkXml(big);
    expect(big).toContain('tiles 128×64');
  });

  it('rectangular masks', () => {
    const svg = renderMask('causal', { seqK: 300, seqQ: 20, format: 'svg' });
    checkXml(svg);
    expect(svg).toContain('seqQ = 20, seqK = 300');
  });
});
