/**
 * Loads the native addon lazily: a prebuilt binary from prebuilds/ (shipped in the npm tarball,
 * found without any install step) or a local build in build/Release. When neither loads,
 * `backend: 'auto'` throws NativeUnavailableError, which says how to get a binary; the
 * pure-TypeScript reference backend runs only when asked for by name.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINEAR_CPU_ENTRY_POINTS, hasEntryPoints, type AddonBindings } from './bindings.js';

/** The platforms this package ships prebuilt binaries for (the folders of prebuilds/), e.g. ['linux-x64']. */
export function shippedPlatforms(): string[] {
  try {
    return readdirSync(join(packageRoot, 'prebuilds'), { withFileTypes: true })
      .filter((e) => e.isDirectory() && readdirSync(join(packageRoot, 'prebuilds', e.name)).some((f) => f.endsWith('.node')))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** Thrown when the native addon cannot be loaded; says why and how to get one. */
export class NativeUnavailableError extends Error {
  constructor(reason: string) {
    const shipped = shippedPlatforms();
    super(
      `attnflow: the native addon is not available (${reason}). ` +
        `Prebuilt binaries ship for ${shipped.length > 0 ? shipped.join(', ') : 'no platform in this copy of the package'} ` +
        `(linux: glibc >= 2.28); this is ${process.platform}-${process.arch}. Build one from source: ` +
        '`npm install cmake-js@^8 node-addon-api@^8` in your project, then `npm rebuild attnflow --foreground-scripts`; ' +
        'that needs CMake >= 3.18 and a C++17 compiler (g++ or clang++; nvcc optional, for CUDA). ' +
        "The pure-TypeScript backend (about 100x slower) runs without it if you ask for it: pass { backend: 'reference' }.",
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

/** The addon, checked to have the CPU linear-attention entry points; throws if it was built from sources that predate them. */
export function nativeLinear(): AddonBindings {
  const addon = loadNative();
  if (!hasEntryPoints(addon, LINEAR_CPU_ENTRY_POINTS)) {
    throw new Error('attnflow: the loaded native addon has no linear attention (rebuild it: npx cmake-js compile)');
  }
  return addon;
}

export const packageVersion: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
