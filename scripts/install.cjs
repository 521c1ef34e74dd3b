#!/usr/bin/env node
// `npm install` step: use a prebuilt binary when one matches this platform, otherwise compile
// from source with cmake-js. (node-gyp-build's own fallback would run node-gyp, but attnflow is
// built with CMake and has no binding.gyp.) The package also works when npm skips this script:
// the prebuilt binary is loaded at run time without any install step.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const forced = /^(1|true)$/i.test(process.env.ATTNFLOW_BUILD_FROM_SOURCE || '') ||
  /^(1|true)$/i.test(process.env.npm_config_build_from_source || '');

if (!forced) {
  try {
    require('node-gyp-build')(root);
    process.exit(0);
  } catch (err) {
    console.error(`attnflow: no usable native binary (${String(err.message).split('\n')[0]}); building from source with cmake-js`);
  }
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  console.error('attnflow: cmake-js is not installed; run `npm install cmake-js` and then `npx cmake-js compile` in ' + root);
  process.exit(1);
}
const res = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
if (res.status !== 0) {
  console.error('attnflow: building the native addon failed. It needs CMake >= 3.18 and a C++17 compiler ' +
    '(g++ or clang++); nvcc is optional and adds the CUDA backend. The pure-TypeScript reference backend ' +
    'works without it.');
  process.exit(res.status ?? 1);
}
