import { describe, expect, it } from 'vitest';
import { compareRow, fitGrowth, formatGrowth } from '../lib/analysis/compare.js';
import { expandStack, hasLayerPlaceholder, instantiate, splitStack } from '../lib/analysis/layer-template.js';
import { scanLayer, StorageBudget } from '../lib/analysis/layer.js';
import { backendTile, DOCUMENTED_TILE } from '../lib/analysis/tile.js';
import { renderCoverageChart } from '../lib/render/coverage.js';
import { parsePattern } from '../lib/patterns/index.js';
import { tryLoadNative } from '../lib/native/load.js';
import { randomMatrixPattern, randomPatternString, rng } from './helpers/flow-brute.js';

describe('growth fit', () => {
  it('tells linear from exponential growth and reports the rate', () => {
    expect(fitGrowth([8, 15, 22, 29, 36, 43, 50, 57])).toEqual({ shape: 'linear', rate: 7, layers: 4 });
    const g = fitGrowth([9, 81, 729, 6561, 59049, 65536, 65536]);
    expect(g.shape).toBe('exponential');
    expect(g.rate).toBeCloseTo(9, 9);
    expect(fitGrowth([4096, 4096])).toEqual({ shape: 'immediate', rate: 4096, layers: 1 });
    expect(fitGrowth([1, 1, 1])).toEqual({ shape: 'none', rate: 0, layers: 0 });
    expect(fitGrowth([])).toEqual({ shape: 'none', rate: 0, layers: 0 });
    expect(formatGrowth({ shape: 'linear', rate: 255, layers: 9 })).toBe('linear, +255/layer');
    expect(formatGrowth({ shape: 'exponential', rate: 2.56, layers: 9 })).toBe('exponential, ×2.6/layer');
    expect(formatGrowth({ shape: 'exponential', rate: 16, layers: 9 })).toBe('exponential, ×16/layer');
  });

  it('a comparison row measures FLOPs against causal and the worst coverage after the last layer', () => {
    const r = compareRow('sliding(8)', 'sliding(8)', { seqLen: 100, layers: 5 });
    expect(r.flopsVsCausal).toBeCloseTo((8 * 100 - 28) / 5050, 12);
    expect(r.worstCoverage).toBeCloseTo(36 / 100, 12);
    expect(r.growth).toEqual({ shape: 'linear', rate: 7, layers: 3 });
    expect(compareRow('x', 'causal', { seqLen: 10, layers: 0 }).worstCoverage).toBeCloseTo(0.1, 12);
  });
});

describe('layer templates', () => {
  it('expands {l}, {l+N} and {N^l}, cycling the entries', () => {
    expect(hasLayerPlaceholder('random(8, {l})')).toBe(true);
    expect(hasLayerPlaceholder('random(8, 1)')).toBe(false);
    expect(instantiate('random(8, {l+100})', 3)).toBe('random(8, 103)');
    expect(instantiate('dilated(16, {16^l})', 2)).toBe('dilated(16, 256)');
    expect(instantiate('dilated(16, { 2 ^ l })', 60)).toBe(`dilated(16, ${Number.MAX_SAFE_INTEGER})`);
    expect(expandStack(['sliding(8)', 'causal'], 5)).toEqual(['sliding(8)', 'causal']);
    expect(expandStack(['sliding(8)', 'random(2, {l})'], 4)).toEqual(['sliding(8)', 'random(2, 1)', 'sliding(8)', 'random(2, 3)']);
    expect(expandStack(['random(2, {l})'], 0)).toEqual(['random(2, 0)']);
    expect(() => instantiate('random(2, {k})', 0)).toThrow(/unknown layer placeholder \{k\}/);
    expect(splitStack(' log ; causal ', ';')).toEqual(['log', 'causal']);
    expect(() => splitStack('log;;causal', ';')).toThrow(/#1 .* is empty/);
    expect(() => splitStack('  ', ';')).toThrow(/at least one/);
  });
});

describe('layer rows', () => {
  it('rows read again from their source (past the storage budget) equal the stored ones', () => {
    const r = rng(11);
    for (let trial = 0; trial < 30; trial++) {
      const T = 1 + Math.floor(r() * 70);
      const p = trial % 5 === 0 ? randomMatrixPattern(T, 0.2, trial) : parsePattern(randomPatternString(r, T));
      const tile = { blockQ: 8, blockK: 16 };
      const stored = scanLayer(p, T, 0, tile, new StorageBudget(1 << 20));
      const streamed = scanLayer(p, T, 0, tile, new StorageBudget(0));
      expect(streamed.edges).toBe(stored.edges);
      expect(streamed.computed).toBe(stored.computed);
      for (let i = 0; i < T; i++) {
        stored.source.load(i);
        const a = Array.from(stored.source.lo.subarray(stored.source.s, stored.source.e)).concat(Array.from(stored.source.hi.subarray(stored.source.s, stored.source.e)));
        streamed.source.load(i);
        const b = Array.from(streamed.source.lo.subarray(streamed.source.s, streamed.source.e)).concat(Array.from(streamed.source.hi.subarray(streamed.source.s, streamed.source.e)));
        expect(b).toEqual(a);
      }
    }
  });
});

describe('tile default', () => {
  it('is the loaded CPU backend’s tile, else the documented 64 × 64', () => {
    const t = backendTile('cpu');
    const native = tryLoadNative();
    if ('error' in native) expect(t).toEqual({ tile: DOCUMENTED_TILE, source: 'documented' });
    else expect(t).toEqual({ tile: native.addon.info().cpu.tile, source: 'cpu' });
    const c = backendTile('cuda');
    expect(['cuda', 'documented']).toContain(c.source);
    expect(DOCUMENTED_TILE).toEqual({ blockQ: 64, blockK: 64 });
  });
});

describe('coverage chart', () => {
  it('draws one line per pattern from 1/n at depth 0, marks full depth, and escapes labels', () => {
    const svg = renderCoverageChart(
      [
        { label: 'causal', coverage: [1, 1], fullDepth: 1 },
        { label: 'a < b & "c"', coverage: [0.25, 0.5], fullDepth: null },
      ],
      { seqLen: 4, layers: 2, title: 'flow' },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path d="M/g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(1);
    expect(svg).toContain('a &lt; b &amp; &quot;c&quot; <tspan fill="#6b7280">(50.0% after 2)</tspan>');
    // depth 0 sits at coverage 1/4 for every line: y = top + (1 − 0.25)·plotH
    expect(svg).toContain('M64.0,318.0');
  });
});
