/**
 * Runs once before the test files: packages the built addon as the prebuild that `npm pack`
 * ships for this machine (scripts/prebuild.cjs: an incremental `cmake-js compile`, then a stripped
 * copy), so the pack test installs the exact binary users would get. A release prebuild that
 * scripts/prebuild-linux.sh made (build/prebuild-linux.json) is kept as it is.
 * Then it builds the WebAssembly modules when they are older than their sources
 * (scripts/build-wasm.sh --if-stale). Without the wasm toolchain the modules stay as they are (the
 * wasm tests then fail, saying they are missing and how to build them).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const res = spawnSync(process.execPath, ['scripts/prebuild.cjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  if (res.status !== 0) {
    throw new Error(`scripts/prebuild.cjs failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
  const wasm = spawnSync('bash', ['scripts/build-wasm.sh', '--if-stale'], { cwd: root, encoding: 'utf8' });
  if (wasm.status !== 0) {
    if (/needs clang/.test(wasm.stderr)) console.warn(wasm.stderr.trim());
    else throw new Error(`scripts/build-wasm.sh failed (exit ${wasm.status}):\n${wasm.stdout}\n${wasm.stderr}`);
  }
}
