#!/usr/bin/env node
// `npm run prebuild`: writes prebuilds/<platform>-<arch>/attnflow.<libc>.node with prebuildify.
// prebuildify has no cmake-js backend; it spawns `$PREBUILD_NODE_GYP rebuild --target=… --arch=…
// --release` and then picks the .node file up from build/Release. So we point PREBUILD_NODE_GYP
// at scripts/prebuild-gyp-shim.cjs, which runs cmake-js instead, and let prebuildify
// strip, name and place the result as usual (Node-API, so one binary serves every Node version).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const shim = path.join(__dirname, 'prebuild-gyp-shim.cjs');
const res = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  // prebuildify spawns PREBUILD_NODE_GYP through PREBUILD_SHELL, so a command line works here.
  env: { ...process.env, PREBUILD_NODE_GYP: `"${process.execPath}" "${shim}"`, PREBUILD_SHELL: '/bin/sh' },
});
process.exit(res.status ?? 1);
