#!/usr/bin/env node
// `npm run prebuilds`: packages this machine's build as the prebuild that `npm pack` ships for
// it. Runs `cmake-js compile` (incremental: after `npm install` it costs a relink at most), then
// copies build/Release/attnflow.node, stripped, to prebuilds/<platform>-<arch>/attnflow.<libc>.node,
// the name node-gyp-build looks for (Node-API, so one binary serves every Node version).
// The linux binaries that are published come from scripts/prebuild-linux.sh (glibc 2.28 floor,
// arm64 too); a prebuild it made and recorded in build/prebuild-linux.json is left alone.
//   node scripts/prebuild.cjs [--quiet]
'use strict';
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const quiet = process.argv.includes('--quiet');
const log = (m) => quiet || console.log(`prebuild: ${m}`);

function libcTag() {
  if (process.platform !== 'linux') return '';
  const glibc = process.report && process.report.getReport().header.glibcVersionRuntime;
  return glibc ? '.glibc' : '.musl';
}

const target = `${process.platform}-${process.arch}`;
const dest = path.join(root, 'prebuilds', target, `attnflow${libcTag()}.node`);

function releaseBuildOf(file) {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'build', 'prebuild-linux.json'), 'utf8'));
    const rec = manifest.targets[target];
    const sha = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    return rec && rec.sha256 === sha;
  } catch {
    return false;
  }
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const built = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
if (built.status !== 0) {
  if (quiet) process.stderr.write(`${built.stdout}\n${built.stderr}`);
  console.error('prebuild: cmake-js compile failed');
  process.exit(built.status || 1);
}

if (fs.existsSync(dest) && releaseBuildOf(dest)) {
  log(`keeping ${path.relative(root, dest)}, made by scripts/prebuild-linux.sh`);
  process.exit(0);
}
fs.mkdirSync(path.dirname(dest), { recursive: true });
const src = path.join(root, 'build', 'Release', 'attnflow.node');
const tmp = `${dest}.tmp`;
fs.copyFileSync(src, tmp);
if (process.platform === 'linux' || process.platform === 'darwin') {
  const args = process.platform === 'darwin' ? ['-Sx', tmp] : ['--strip-all', tmp];
  const s = spawnSync('strip', args, { stdio: 'pipe', encoding: 'utf8' });
  if (s.status !== 0) log(`not stripped (strip: ${s.error ? s.error.message : s.stderr.trim()})`);
}
fs.renameSync(tmp, dest);
log(`${path.relative(root, dest)} (${Math.round(fs.statSync(dest).size / 1024)} KiB)`);
