/**
 * Loads the native addon lazily: a prebuilt binary from prebuilds/ (shipped in the npm tarball,
 * found without any install step) or a local build in build/Release. When neither loads, the
 * pure-TypeScript reference backend still works and the error says how to build from source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One CPU kernel of the addon (native/cpu/isa.h): an instruction set's attention and linear-attention kernels. */
export interface NativeCpuKernel {
  /** the value of ATTNFLOW_CPU_ISA that selects it: 'avx2', 'portable', … */
  name: string;
  /** floats per vector */
  lanes: number;
  /** whether this CPU can run it */
  supported: boolean;
  /** supported, and chosen by default where it comes first (avx512bf16 only where its dot products pay) */
  preferred: boolean;
  /** what it needs of the CPU */
  needs: string;
}

export interface NativeCpuInfo {
  avx2: boolean;
  fma: boolean;
  f16c: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512dq: boolean;
  avx512vl: boolean;
  avx512bf16: boolean;
  neon: boolean;
  threads: number;
  tile: { blockQ: number; blockK: number };
  /** the kernel calls run, or null when ATTNFLOW_CPU_ISA names one that cannot run (kernelError says why) */
  kernel?: { name: string; lanes: number } | null;
  kernelError?: string;
  kernels?: NativeCpuKernel[];
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface NativeCudaInfo {
  compiled: boolean;
  available: boolean;
  reason: string;
  runtimeVersion: number;
  driverVersion: number;
  devices: NativeCudaDevice[];
}

/** The argument object of the native attention entry points (see native/binding/addon.cpp). */
export interface NativeView {
  data: Float32Array | Uint16Array;
  /** 0 float32, 1 float16, 2 bfloat16 */
  dtype: 0 | 1 | 2;
  shape: [number, number, number, number];
  strides: [number, number, number, number];
  offset: number;
}

export interface NativeAttentionArgs {
  q: NativeView;
  k: NativeView;
  v: NativeView;
  out: NativeView;
  lse: Float32Array | null;
  mask: {
    seqQ: number; seqK: number; blockQ: number; blockK: number; numQBlocks: number; numKBlocks: number;
    heads: number; wordsPerRow: number; rowPtr: Int32Array; colIdx: Int32Array; partial: Int32Array; bits: Uint32Array;
  };
  scale: number;
  softcap: number;
  alibi: Float32Array | null;
  rope: { base: number; interleaved: boolean; offset: number; dims: number } | null;
}

export interface NativeAddon {
  info(): { cpu: NativeCpuInfo; cuda: NativeCudaInfo };
  attentionSync(args: NativeAttentionArgs): void;
  attention(args: NativeAttentionArgs): Promise<void>;
}

/** Thrown when the native addon cannot be loaded; says why and how to build it. */
export class NativeUnavailableError extends Error {
  constructor(reason: string) {
    super(
      `attnflow: the native addon is not available (${reason}). ` +
        `No prebuilt binary matches ${process.platform}-${process.arch}; build it from source with ` +
        '`npm rebuild attnflow --foreground-scripts` (or `npx cmake-js compile` in the package folder), ' +
        'which needs CMake >= 3.18 and a C++17 compiler (nvcc optional, for CUDA). ' +
        "The pure-TypeScript backend works without it: pass { backend: 'reference' }.",
    );
    this.name = 'NativeUnavailableError';
  }
}

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'attnflow') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('attnflow: cannot find the package root');
    dir = parent;
  }
}

export const packageRoot = findPackageRoot();

let loaded: { addon: NativeAddon } | { error: string } | undefined;

/** The addon, or the reason it could not be loaded. Never throws. */
export function tryLoadNative(): { addon: NativeAddon } | { error: string } {
  if (loaded) return loaded;
  try {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    loaded = { addon: load(packageRoot) };
  } catch (err) {
    loaded = { error: String((err as Error).message ?? err).split('\n')[0] };
  }
  return loaded;
}

/** The addon; throws NativeUnavailableError (with build instructions) when it cannot load. */
export function loadNative(): NativeAddon {
  const r = tryLoadNative();
  if ('error' in r) throw new NativeUnavailableError(r.error);
  return r.addon;
}

export const packageVersion: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
