/**
 * The prebuilt path as a user meets it: `npm pack`, install the tarball into an empty project
 * with install scripts disabled and no compiler on PATH, import the package, call info().
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
const work = mkdtempSync(join(tmpdir(), 'attnflow-pack-'));

function npmCli(): string {
  // npm-cli.js sits next to the node binary's lib folder on every standard install.
  const candidates = [process.env.npm_execpath, join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js')];
  for (const c of candidates) {
    if (c && c.endsWith('.js')) return c;
  }
  throw new Error('cannot find npm-cli.js');
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
  return String(res.stdout);
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack → install without scripts or compiler', () => {
  it('installs from the tarball and loads the prebuilt binary', () => {
    const packed = run(process.execPath, [npmCli(), 'pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root });
    const files = (JSON.parse(packed) as { filename: string; files: { path: string }[] }[])[0];
    const paths = files.files.map((f) => f.path);
    expect(paths.some((p) => /^prebuilds\/linux-x64\/attnflow\..*node$/.test(p))).toBe(true);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/bench/cli.js', 'dist/bench/memory-child.js']) expect(paths).toContain(p);
    expect(paths.some((p) => p.startsWith('test/') || p.startsWith('build/') || p.startsWith('node_modules/'))).toBe(false);
    // the development benchmarks (goal scripts, the ONNX Runtime harness, model writers) are not shipped
    expect(paths.filter((p) => p.startsWith('bench/') || p.startsWith('dist-bench/') || p.startsWith('dist/lib/') || /^dist\/bench\/(cpu-goals|ort|mask-compile|linear)\.|\/onnx\//.test(p))).toEqual([]);

    // A PATH holding node alone: no cc, c++, cmake or nvcc can be found.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const env = { ...process.env, PATH: bin, npm_config_ignore_scripts: 'true' };
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    run(process.execPath, [npmCli(), 'install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', join(work, files.filename)], { cwd: app, env });
    expect(readdirSync(join(app, 'node_modules', 'attnflow'))).not.toContain('build');

    const script = "import('attnflow').then((m) => { console.log(JSON.stringify(m.info())); })";
    const out = run(process.execPath, ['-e', script], { cwd: app, env });
    const info = JSON.parse(out);
    expect(info.version).toBe(pkg.version);
    expect(info.backends.cpu.available).toBe(true);
    expect(typeof info.backends.cuda.available).toBe('boolean');
    if (!info.backends.cuda.available) expect(info.backends.cuda.reason).toMatch(/\w/);

    const required = run(process.execPath, ['-e', "console.log(typeof require('attnflow').attention)"], { cwd: app, env });
    expect(required.trim()).toBe('function');

    // the installed bench command runs (memory probe child included), and says how to get the
    // ONNX Runtime peers, which the package does not ship, instead of failing
    const benchOut = join(work, 'bench-out');
    const res = spawnSync(
      join(app, 'node_modules', '.bin', 'attnflow'),
      ['bench', '--seq', '32', '--patterns', 'dense', '--backends', 'cpu,ort-mha', '--head-dim', '8', '--heads', '1', '--time', '1', '--iterations', '1', '--memory-seq', '64', '--out', benchOut],
      { cwd: app, env, encoding: 'utf8' },
    );
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/ort-mha skipped: .*npm run build:bench.*npm install onnxruntime-node/);
    const report = JSON.parse(readFileSync(join(benchOut, 'bench.json'), 'utf8'));
    expect(report.results.map((r: { backend: string; status: string }) => `${r.backend} ${r.status}`)).toEqual(['cpu ok', 'ort-mha skipped']);
    expect(report.memory.peakRss).toBeGreaterThan(0);
  }, 240_000);
});
