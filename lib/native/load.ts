/**
 * Loads the native addon lazily: a prebuilt binary from prebuilds/ (shipped in the npm tarball,
 * found without any install step) or a local build in build/Release. When neither loads, the
 * pure-TypeScript reference backend still works and the error says how to build from source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINEAR_CPU_ENTRY_POINTS, LINEAR_CUDA_ENTRY_POINTS, hasEntryPoints, type AddonBindings } from './bindings.js';

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

let loaded: { addon: AddonBindings } | { error: string } | undefined;

/** The addon, or the reason it could not be loaded. Never throws. */
export function tryLoadNative(): { addon: AddonBindings } | { error: string } {
  if (loaded) return loaded;
  try {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => AddonBindings;
    loaded = { addon: load(packageRoot) };
  } catch (err) {
    loaded = { error: String((err as Error).message ?? err).split('\n')[0] };
  }
  return loaded;
}

/** The addon; throws NativeUnavailableError (with build instructions) when it cannot load. */
export function loadNative(): AddonBindings {
  const r = tryLoadNative();
  if ('error' in r) throw new NativeUnavailableError(r.error);
  return r.addon;
}

/** The addon, checked to have every linear-attention entry point; throws if it was built from sources that predate them. */
export function nativeLinear(): AddonBindings {
  const addon = loadNative();
  if (!hasEntryPoints(addon, LINEAR_CPU_ENTRY_POINTS) || !hasEntryPoints(addon, LINEAR_CUDA_ENTRY_POINTS)) {
    throw new Error('attnflow: the loaded native addon has no linear attention (rebuild it: npx cmake-js compile)');
  }
  return addon;
}

export const packageVersion: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
