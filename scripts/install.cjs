#!/usr/bin/env node
// `npm install` step. In the published package: use the prebuilt binary when one matches this
// platform, otherwise compile from source with cmake-js where it is installed, and otherwise say
// how to get a binary (the install still succeeds: the pure-TypeScript parts need none, and
// attention() names the same steps when it is called). The package also works when npm skips
// this script: the prebuilt binary is loaded at run time without any install step.
// In a source checkout (a clone, which has tsconfig.json) it also compiles the TypeScript, so
// `npm install` leaves the CLI and the examples ready to run.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const checkout = fs.existsSync(path.join(root, 'tsconfig.json'));
const truthy = (v) => /^(1|true)$/i.test(v || '');
const forced = truthy(process.env.ATTNFLOW_BUILD_FROM_SOURCE) || truthy(process.env.npm_config_build_from_source);

function resolve(request) {
  try {
    return require.resolve(request, { paths: [root] });
  } catch {
    return null;
  }
}

function shipped() {
  try {
    return fs.readdirSync(path.join(root, 'prebuilds')).filter((d) => !d.includes('.')).join(', ') || 'none';
  } catch {
    return 'none';
  }
}

function native() {
  if (!forced) {
    try {
      require('node-gyp-build')(root);
      return 0;
    } catch (err) {
      console.error(`attnflow: no usable prebuilt binary (${String(err.message).split('\n')[0]})`);
    }
  }
  const cmakeJs = resolve('cmake-js/bin/cmake-js');
  if (!cmakeJs || !resolve('node-addon-api')) {
    console.error(
      `attnflow: prebuilt binaries ship for ${shipped()} (linux: glibc >= 2.28); this is ${process.platform}-${process.arch}. ` +
        'To build one from source, add the build tools to your project and rebuild:\n' +
        '  npm install cmake-js@^8 node-addon-api@^8\n' +
        '  npm rebuild attnflow --foreground-scripts\n' +
        'That needs CMake >= 3.18 and a C++17 compiler (g++ or clang++); nvcc is optional and adds the CUDA backend. ' +
        "Until then attention() throws NativeUnavailableError unless you pass { backend: 'reference' } (pure TypeScript, about 100x slower).",
    );
    return checkout ? 1 : 0;
  }
  console.error('attnflow: building the native addon from source with cmake-js');
  const res = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(
      'attnflow: building the native addon failed. It needs CMake >= 3.18 and a C++17 compiler ' +
        '(g++ or clang++); nvcc is optional and adds the CUDA backend.',
    );
    return res.status || 1;
  }
  return 0;
}

function typescript() {
  const tsc = resolve('typescript/bin/tsc');
  if (!tsc) {
    console.error('attnflow: typescript is not installed (run `npm install` in the checkout)');
    return 1;
  }
  // from an empty dist/, as `npm run build:ts` does: no module of an older layout is left behind
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  return spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' }).status ?? 1;
}

const status = native();
if (status !== 0) process.exit(status);
if (checkout) process.exit(typescript());
