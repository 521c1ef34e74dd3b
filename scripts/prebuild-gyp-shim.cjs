#!/usr/bin/env node
// Stands in for node-gyp when prebuildify calls it (see prebuild.cjs). prebuildify asks for
// `rebuild`; we run `cmake-js compile`, which is incremental: after `npm install` has built the
// addon, packaging it as a prebuild costs a relink at most instead of a second full CUDA build.
// The other node-gyp flags (--target, --devdir) do not apply to a Node-API build.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const arch = (argv.find((a) => a.startsWith('--arch=')) || '').slice('--arch='.length);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const args = [cmakeJs, 'compile'];
if (argv.includes('--debug')) args.push('--debug');
if (arch) args.push('--arch', arch);
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(res.status ?? 1);
