/**
 * Runs once before the test files: packages the built addon as the prebuild that `npm pack`
 * ships for this machine (scripts/prebuild.cjs: an incremental `cmake-js compile`, then a stripped
 * copy), so the pack test installs the exact binary users would get. A release prebuild that
 * scripts/prebuild-linux.sh made (build/prebuild-linux.json) is kept as it is.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const res = spawnSync(process.execPath, ['scripts/prebuild.cjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  if (res.status !== 0) {
    throw new Error(`scripts/prebuild.cjs failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
}
