/**
 * Runs the standalone C++ tests of the backends (native/test), built next to the addon: they
 * check the kernels and the native validation without going through JavaScript.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const exe = fileURLToPath(new URL('../build/attnflow_native_tests', import.meta.url));

describe('native C++ test program', () => {
  it('is built with the addon', () => {
    expect(existsSync(exe), `${exe} missing: run npm install (or npx cmake-js compile)`).toBe(true);
  });

  it('passes', () => {
    const res = spawnSync(exe, [], { encoding: 'utf8', timeout: 600_000 });
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
  }, 600_000);
});
