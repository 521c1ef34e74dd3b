/**
 * Every CPU kernel this machine supports passes the oracle grid (test/cpu-isa-grid.test.ts): the
 * kernel this process uses runs it directly, each other one in a child vitest with
 * ATTNFLOW_CPU_ISA set to its name. Kernels the CPU cannot run are skipped with the reason.
 * ATTNFLOW_CPU_ISA naming no kernel is an error of every CPU call and of info().
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { info } from '../lib/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

function child(args: string[], isa: string, timeout = 240_000) {
  const env = { ...process.env, ATTNFLOW_CPU_ISA: isa, NO_COLOR: '1', FORCE_COLOR: '0' };
  return spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', timeout });
}

const cpu = info().backends.cpu;
const kernels = cpu.kernels ?? [];

describe('CPU kernels by instruction set', () => {
  it('info() reports the kernel in use among the kernels of this build', () => {
    expect(cpu.available).toBe(true);
    expect(kernels.map((k) => k.name)).toContain(cpu.kernel);
    expect(kernels.at(-1)).toMatchObject({ name: 'portable', supported: true });
    const active = kernels.find((k) => k.name === cpu.kernel);
    expect(active?.lanes).toBe(cpu.lanes);
    // without ATTNFLOW_CPU_ISA, the first (best) supported kernel that is preferred on this CPU
    // (avx512bf16 is only where its bf16 dot products outrun the FMA)
    if (!process.env.ATTNFLOW_CPU_ISA) expect(cpu.kernel).toBe(kernels.find((k) => k.supported && k.preferred)?.name);
    for (const k of kernels) if (k.preferred) expect(k.supported).toBe(true);
  });

  for (const k of kernels) {
    it(`${k.name} (${k.lanes} lanes) passes the oracle grid`, (ctx) => {
      if (!k.supported) {
        console.log(`skipped: kernel ${k.name}: this CPU lacks ${k.needs}`);
        ctx.skip();
      }
      if (k.name === cpu.kernel) {
        console.log(`kernel ${k.name}: runs the grid in this process (test/cpu-isa-grid.test.ts)`);
        return;
      }
      const r = child([vitestBin, 'run', 'test/cpu-isa-grid.test.ts'], k.name);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+4 passed \(4\)/);
    }, 300_000);
  }

  it('ATTNFLOW_CPU_ISA naming no kernel fails every CPU call and the addon says why', () => {
    // Plain JavaScript in the child: only the addon is needed.
    const script = `
      const addon = require('node-gyp-build')(process.cwd());
      const cpu = addon.info().cpu;
      const view = () => ({ data: new Float32Array(4), dtype: 0, shape: [1, 1, 1, 4], strides: [4, 4, 4, 1], offset: 0 });
      let error = null;
      try {
        addon.linearAttentionSync({ q: view(), k: view(), v: view(), out: view(), featureMap: 1, favorWeights: null, features: 0,
          decay: 0, decayHead: null, gates: null, gateStrides: [0, 0, 0, 0], normalize: true, eps: 1e-6,
          initS: null, initZ: null, stateS: null, stateZ: null, chunk: 64 });
      } catch (e) { error = e.message; }
      console.log(JSON.stringify({ kernel: cpu.kernel, kernelError: cpu.kernelError, error }));`;
    const r = child(['-e', script], 'bogus');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.kernel).toBeNull();
    expect(out.kernelError).toMatch(/ATTNFLOW_CPU_ISA=bogus names no CPU kernel of this build \(it has .*portable\)/);
    expect(out.error).toBe(out.kernelError);
  });
});

// GCC deems a function whose only effect is __builtin_prefetch free of side effects and deletes
// the calls to it; the kernels' prefetch helpers are kept out of that analysis
// (ATTNFLOW_PREFETCHES in native/cpu/kernel_body.h). This reads the addon this process loaded and
// checks every x86-64 kernel still has them, each with its prefetch instructions.
describe.runIf(process.platform === 'linux' && process.arch === 'x64')('CPU kernels keep their prefetches (linux-x64)', () => {
  it('prefetchRow and prefetchStep of every kernel hold prefetch instructions', () => {
    const addonPath = (createRequire(import.meta.url)('node-gyp-build') as { path: (dir: string) => string }).path(root);
    const r = spawnSync('objdump', ['-d', '-C', '--no-show-raw-insn', addonPath], { encoding: 'utf8', maxBuffer: 1 << 30 });
    expect(r.error?.message ?? null, 'objdump (binutils) is needed to read the addon').toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const blocks = r.stdout.split('\n\n');
    for (const isa of ['avx512', 'avx2', 'portable']) {
      for (const helper of ['prefetchRow', 'prefetchStep']) {
        const body = blocks.find((b) => b.includes(`<attnflow::cpu::${isa}::(anonymous namespace)::${helper}(`) && b.includes('>:\n'));
        expect(body, `${isa} ${helper} is in ${addonPath}`).toBeDefined();
        expect(body!, `${isa} ${helper} prefetches`).toMatch(/\tprefetch(t0|t1|t2|nta|w)\s/);
      }
    }
  });
});
