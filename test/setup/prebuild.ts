/**
 * Runs once before the test files: packages the built addon as the prebuild that npm ships
 * (`npm run prebuild`, incremental), so every suite loads the exact binary users get.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const res = spawnSync(process.execPath, ['scripts/prebuild.cjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  if (res.status !== 0) {
    throw new Error(`npm run prebuild failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
}
