import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Every CPU kernel this machine can run goes through the oracle grids of the public API: the
 * default project runs everything with the kernel calls pick by themselves; one project per other
 * supported kernel (ATTNFLOW_CPU_ISA=<name>) runs the CPU backend's grids again. Kernels this CPU
 * cannot run are skipped with the reason printed (the native tests, run per kernel by
 * attnflow_native_tests, say the same).
 */
const ISA_SUITES = ['test/cpu-backend.test.ts', 'test/cpu-isa.test.ts', 'test/linear-attention.test.ts', 'test/reliability/nonfinite.test.ts'];

interface Kernel {
  name: string;
  supported: boolean;
  preferred: boolean;
  needs: string;
}

// The addon the tests will load: the local build when there is one (test/setup/prebuild.ts packages
// it as the prebuild only after this file is read), else what node-gyp-build finds.
function cpuKernels(): Kernel[] {
  try {
    const require = createRequire(import.meta.url);
    const root = fileURLToPath(new URL('.', import.meta.url));
    const local = `${root}build/Release/attnflow.node`;
    type Addon = { info(): { cpu: { kernels?: Kernel[] } } };
    const addon = (existsSync(local) ? require(local) : (require('node-gyp-build') as (dir: string) => Addon)(root)) as Addon;
    return addon.info().cpu.kernels ?? [];
  } catch (e) {
    console.log(`vitest: per-kernel CPU projects skipped: the native addon does not load (${(e as Error).message.split('\n')[0]})`);
    return [];
  }
}

const base = {
  include: ['test/**/*.test.ts'],
  exclude: ['test/gpu/**', 'node_modules/**'],
  globalSetup: ['test/setup/prebuild.ts'],
  testTimeout: 60_000,
  hookTimeout: 300_000,
};

const kernels = cpuKernels();
const forced = process.env.ATTNFLOW_CPU_ISA;
const defaultKernel = forced || kernels.find((k) => k.supported && k.preferred)?.name;
const isaProjects: { test: typeof base & { name: string; env: Record<string, string> } }[] = [];
for (const k of kernels) {
  if (k.name === defaultKernel) continue;
  if (!k.supported) {
    console.log(`vitest: CPU kernel ${k.name} skipped: this CPU lacks ${k.needs}`);
    continue;
  }
  // the non-finite fuzzer at a quarter of its cases: the default project runs all of them, and the
  // native tests check every kernel's non-finite rules case by case
  const env = { ATTNFLOW_CPU_ISA: k.name, ATTNFLOW_FUZZ_SCALE: process.env.ATTNFLOW_FUZZ_SCALE ?? '0.25' };
  isaProjects.push({ test: { ...base, name: `cpu-${k.name}`, include: ISA_SUITES, env } });
}

export default defineConfig({
  test: {
    projects: [{ test: { ...base, name: defaultKernel ? `default (cpu ${defaultKernel})` : 'default' } }, ...isaProjects],
  },
});
