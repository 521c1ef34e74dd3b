#!/usr/bin/env node
// `npm publish` guard (prepublishOnly): the prebuilds about to ship must be the release binaries
// of scripts/prebuild-linux.sh for linux-x64 and linux-arm64, unchanged since it wrote them, made
// from the current sources, and asking for no glibc above the floor. A binary packaged from a
// development build (`npm run prebuilds`) would load only on glibc as new as the machine's.
'use strict';
const { createHash } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { sourceHash } = require('./source-hash.cjs');

const root = path.join(__dirname, '..');
const FLOOR = [2, 28];
const problems = [];
let record = null;
try {
  record = JSON.parse(fs.readFileSync(path.join(root, 'build', 'prebuild-linux.json'), 'utf8'));
} catch {
  problems.push('build/prebuild-linux.json is missing: run `sudo scripts/prebuild-linux.sh`');
}
if (record) {
  const sources = sourceHash(root);
  for (const target of ['linux-x64', 'linux-arm64']) {
    const rec = record.targets[target];
    const file = path.join(root, 'prebuilds', target, 'attnflow.glibc.node');
    if (!rec || !fs.existsSync(file)) {
      problems.push(`${target}: no release binary`);
      continue;
    }
    if (createHash('sha256').update(fs.readFileSync(file)).digest('hex') !== rec.sha256) problems.push(`${target}: ${path.relative(root, file)} is not the binary scripts/prebuild-linux.sh made`);
    if (rec.sources !== sources) problems.push(`${target}: built from other sources than these`);
    const syms = spawnSync('readelf', ['--dyn-syms', '--wide', file], { encoding: 'utf8' });
    if (syms.status !== 0) {
      problems.push(`${target}: readelf failed (${syms.error ? syms.error.message : syms.stderr.trim()})`);
      continue;
    }
    for (const m of syms.stdout.matchAll(/@GLIBC_(\d+)\.(\d+)/g)) {
      const v = [Number(m[1]), Number(m[2])];
      if (v[0] > FLOOR[0] || (v[0] === FLOOR[0] && v[1] > FLOOR[1])) {
        problems.push(`${target}: needs GLIBC_${v.join('.')}, above the floor ${FLOOR.join('.')}`);
        break;
      }
    }
  }
}
if (problems.length > 0) {
  console.error(`attnflow: not publishing:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('attnflow: release prebuilds for linux-x64 and linux-arm64 are in place');
