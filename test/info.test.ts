import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatInfo, info } from '../lib/index.js';
import { NativeUnavailableError } from '../lib/native.js';
import pkg from '../package.json' with { type: 'json' };

describe('info()', () => {
  it('reports the version and every backend, with a reason for each unavailable one', () => {
    const i = info();
    expect(i.version).toBe(pkg.version);
    expect(i.backends.reference.available).toBe(true);
    expect(i.backends.cpu.available).toBe(true);
    expect(i.backends.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(i.backends.cpu.simd)).toBe(true);
    const cuda = i.backends.cuda;
    if (cuda.available) {
      expect(cuda.devices.length).toBeGreaterThan(0);
      for (const d of cuda.devices) expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
    } else {
      expect(cuda.reason).toMatch(/no device|not compiled/);
      expect(cuda.devices).toEqual([]);
    }
  });

  it('reports the CPU features the machine has', () => {
    const flags = spawnSync('grep', ['-m1', '^flags', '/proc/cpuinfo'], { encoding: 'utf8' }).stdout;
    if (!flags) return; // not Linux x86
    const simd = info().backends.cpu.simd ?? [];
    expect(simd.includes('avx2')).toBe(/\bavx2\b/.test(flags));
    expect(simd.includes('fma')).toBe(/\bfma\b/.test(flags));
    const fast = ['avx2', 'fma', 'f16c'].every((f) => new RegExp(`\\b${f}\\b`).test(flags));
    expect(info().backends.cpu.kernel).toBe(fast ? 'avx2' : 'portable');
  });

  it('formats as text that names each backend', () => {
    const text = formatInfo(info());
    expect(text).toMatch(new RegExp(`^attnflow ${pkg.version.replace(/\./g, '\\.')}`));
    for (const b of ['reference:', 'cpu:', 'cuda:']) expect(text).toContain(b);
  });

  it('the "no binary" error says how to build from source', () => {
    const e = new NativeUnavailableError('Could not find any prebuilds');
    expect(e.message).toMatch(/npm rebuild attnflow/);
    expect(e.message).toMatch(/cmake-js/);
    expect(e.message).toMatch(/backend: 'reference'/);
  });
});
