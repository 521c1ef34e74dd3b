import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatInfo, info } from '../lib/index.js';
import { NativeUnavailableError } from '../lib/native/load.js';
import pkg from '../package.json' with { type: 'json' };

describe('info()', () => {
  it('reports the version and every backend, with a reason for each unavailable one', () => {
    const i = info();
    expect(i.version).toBe(pkg.version);
    expect(i.backends.reference.available).toBe(true);
    expect(i.backends.cpu.available).toBe(true);
    expect(i.backends.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(i.backends.cpu.simd)).toBe(true);
    expect(i.auto).toEqual({ backend: 'cpu', reason: 'the native addon loaded' });
    expect(i.backends.wasm.available).toBe(true);
    const cuda = i.backends.cuda;
    if (cuda.available) {
      expect(cuda.devices.length).toBeGreaterThan(0);
      for (const d of cuda.devices) expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
    } else {
      expect(cuda.reason).toMatch(/no device|not compiled/);
      expect(cuda.devices).toEqual([]);
    }
  });

  it('reports the CPU features the machine has, and only features of its architecture', () => {
    const simd = info().backends.cpu.simd ?? [];
    // attnflow's feature names, and /proc/cpuinfo's where they differ
    const x86 = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512bf16'];
    const cpuinfoName = (f: string) => (f === 'avx512bf16' ? 'avx512_bf16' : f);
    if (process.arch === 'x64') {
      expect(simd).not.toContain('neon');
      if (process.platform === 'linux') {
        // the kernel lists a feature only where the OS saves its registers, as the addon checks
        const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
        expect(flags, '/proc/cpuinfo has a flags line on Linux x64').toBeDefined();
        const has = (f: string) => new RegExp(`\\b${cpuinfoName(f)}\\b`).test(flags!);
        for (const f of x86) expect(simd.includes(f), f).toBe(has(f));
        // the best kernel the CPU runs: AVX-512 (F, BW, DQ, VL; the bf16 variant only with AVX512-BF16,
        // and only where its dot products pay), else AVX2 where AVX2, FMA and F16C all are
        const avx2 = ['avx2', 'fma', 'f16c'].every(has);
        const avx512 = avx2 && ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl'].every(has);
        const expected = avx512 ? (has('avx512bf16') ? ['avx512bf16', 'avx512'] : ['avx512']) : [avx2 ? 'avx2' : 'portable'];
        if (!process.env.ATTNFLOW_CPU_ISA) expect(expected).toContain(info().backends.cpu.kernel);
      } else {
        for (const f of simd) expect(x86).toContain(f);
      }
    } else if (process.arch === 'arm64') {
      // NEON (Advanced SIMD) is part of the AArch64 base architecture
      expect(simd).toEqual(['neon']);
      expect(info().backends.cpu.kernel).toBe('neon');
    } else {
      expect(simd).toEqual([]);
    }
  });

  it('formats as text that names each backend', () => {
    const text = formatInfo(info());
    expect(text).toMatch(new RegExp(`^attnflow ${pkg.version.replace(/\./g, '\\.')}`));
    for (const b of ['reference:', 'cpu:', 'cuda:', 'wasm:', 'auto (host tensors): cpu']) expect(text).toContain(b);
  });

  it('the "no binary" error says how to build from source', () => {
    const e = new NativeUnavailableError('Could not find any prebuilds');
    expect(e.message).toMatch(/npm rebuild attnflow/);
    expect(e.message).toMatch(/cmake-js/);
    expect(e.message).toMatch(/backend: 'reference'/);
  });
});
