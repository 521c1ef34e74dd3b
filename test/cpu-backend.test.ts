/**
 * The native CPU backend: its info, and the oracle grid (test/helpers/backend-grid.ts).
 */
import { describe, expect, it } from 'vitest';
import { info } from '../lib/index.js';
import { oracleGrid } from './helpers/backend-grid.js';

describe('native CPU backend', () => {
  it('is available and reports its tile shape', () => {
    const cpu = info().backends.cpu;
    expect(cpu.available).toBe(true);
    expect(cpu.tile?.blockQ).toBeGreaterThan(0);
    expect(cpu.threads).toBeGreaterThan(0);
  });
});

oracleGrid('cpu');
