/** The published type declarations compile a program that uses every public function. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('type declarations', () => {
  it('compile test/types/usage.ts with tsc (strict, isolatedModules)', () => {
    const res = spawnSync(process.execPath, [tsc, '-p', 'test/types/tsconfig.json'], { cwd: root, encoding: 'utf8' });
    expect(res.status, res.stdout + res.stderr).toBe(0);
  }, 120_000);
});
