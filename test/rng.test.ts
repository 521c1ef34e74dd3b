import { describe, it, expect } from 'vitest';
import { Rng, hashInts } from '../lib/rng.js';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 20 }, () => a.nextU32());
    const sb = Array.from({ length: 20 }, () => b.nextU32());
    const sc = Array.from({ length: 20 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    // high words of large seeds matter
    expect(new Rng(1).nextU32()).not.toBe(new Rng(1 + 2 ** 32).nextU32());
    expect(new Rng(-1).nextU32()).not.toBe(new Rng(2 ** 32 - 1).nextU32());
  });

  it('nextU32, next and int stay in range', () => {
    const r = new Rng(7);
    let ok = true;
    for (let i = 0; i < 10000; i++) {
      const u = r.nextU32();
      const x = r.next();
      const k = r.int(7);
      ok &&= Number.isInteger(u) && u >= 0 && u < 2 ** 32 && x >= 0 && x < 1 && Number.isInteger(k) && k >= 0 && k < 7;
    }
    expect(ok).toBe(true);
    expect(r.int(1)).toBe(0);
    const big = r.int(2 ** 40 + 3);
    expect(Number.isInteger(big) && big >= 0 && big < 2 ** 40 + 3).toBe(true);
    const full = r.int(2 ** 32);
    expect(Number.isInteger(full) && full >= 0 && full < 2 ** 32).toBe(true);
  });

  it('int(n) rejects bad n', () => {
    const r = new Rng(1);
    for (const n of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) expect(() => r.int(n)).toThrow(expect.objectContaining({ constructor: RangeError, message: expect.stringContaining('n') }));
  });

  it('int is uniform (chi-square) and next/normal have the right moments', () => {
    const r = new Rng(123);
    const n = 10;
    const N = 100000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < N; i++) counts[r.int(n)]++;
    const e = N / n;
    const chi2 = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(30); // 9 dof: p ≈ 0.0005
    let s = 0;
    for (let i = 0; i < N; i++) s += r.next();
    expect(Math.abs(s / N - 0.5)).toBeLessThan(0.005);
    let m = 0;
    let v = 0;
    for (let i = 0; i < N; i++) {
      const x = r.normal();
      m += x;
      v += x * x;
    }
    expect(Math.abs(m / N)).toBeLessThan(0.015);
    expect(Math.abs(v / N - 1)).toBeLessThan(0.02);
  });

  it('hashInts is deterministic, order-sensitive and spreads nearby inputs', () => {
    expect(hashInts(1, 2)).toBe(hashInts(1, 2));
    expect(hashInts(1, 2)).not.toBe(hashInts(2, 1));
    expect(hashInts(1)).not.toBe(hashInts(1, 0));
    expect(hashInts(5)).not.toBe(hashInts(5 + 2 ** 32));
    const seen = new Set<number>();
    for (let s = 0; s < 20; s++) for (let i = 0; i < 500; i++) seen.add(hashInts(s, i));
    expect(seen.size).toBe(10000);
    for (const h of seen) expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    // avalanche: flipping one input bit flips about half the output bits
    let flips = 0;
    for (let i = 0; i < 1000; i++) {
      const d = (hashInts(9, i) ^ hashInts(9, i ^ 1)) >>> 0;
      flips += d.toString(2).split('').filter((c) => c === '1').length;
    }
    expect(flips / 1000).toBeGreaterThan(14);
    expect(flips / 1000).toBeLessThan(18);
  });
});
