#!/usr/bin/env node
// Prints a SHA-256 over the sources a native binary is built from (CMakeLists.txt and native/,
// paths and contents, in byte order of the paths). scripts/prebuild-linux.sh records it next to
// the binaries it makes, so the tests can tell a prebuild made from other sources.
'use strict';
const { createHash } = require('node:crypto');
const { readdirSync, readFileSync, statSync } = require('node:fs');
const path = require('node:path');

function sourceFiles(root) {
  const files = ['CMakeLists.txt'];
  const walk = (rel) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const p = `${rel}/${name}`;
      if (statSync(path.join(root, p)).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk('native');
  return files.sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
}

function sourceHash(root) {
  const h = createHash('sha256');
  for (const f of sourceFiles(root)) h.update(f).update('\0').update(readFileSync(path.join(root, f)));
  return h.digest('hex');
}

module.exports = { sourceHash };
if (require.main === module) console.log(sourceHash(process.argv[2] || path.join(__dirname, '..')));
