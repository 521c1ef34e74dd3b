/**
 * The package as users get it: `npm pack` (prepack compiles the TypeScript), then the tarball
 * installed into an empty project with install scripts disabled and no compiler on PATH, loaded by
 * import and require with this Node and with the oldest Node `engines` allows, where its CPU
 * backend must match a float64 oracle on a grid of cases (test/grid/oracle-grid.mjs).
 *
 * With the release prebuilds of scripts/prebuild-linux.sh (recorded in build/prebuild-linux.json;
 * required under ATTNFLOW_REQUIRE=release): the tarball holds linux-x64 and linux-arm64 binaries,
 * made from the current sources, each asking for GLIBC_2.28 at most. The arm64 binary is run
 * under qemu-user with an arm64 Node (ATTNFLOW_REQUIRE=arm64): it loads, reports NEON and passes
 * the same oracle grid.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from './helpers/optional.js';
import {
  compareVersions, elfMachine, glibcVersions, has, installInto, which, localImports, nodeBinary, nodeOnlyPath,
  oldestAllowedNode, pack, root, run, type Packed,
} from './helpers/packed.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string; engines: { node: string }; dependencies: Record<string, string>; scripts: Record<string, string>; bin: Record<string, string>; exports: Record<string, unknown> };
const { sourceHash } = require('../scripts/source-hash.cjs') as { sourceHash(dir: string): string };

/** The most recent glibc a release binary may ask for: Debian 10, RHEL/Alma 8, Ubuntu 18.10. */
const GLIBC_FLOOR = '2.28';
const GRID = join(root, 'test', 'grid', 'oracle-grid.mjs');

const work = mkdtempSync(join(tmpdir(), 'attnflow-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let packed: Packed;
let app: string;
let env: NodeJS.ProcessEnv;

interface GridResult {
  info: { arch: string; node: string; backends: { cpu: { available: boolean; simd?: string[]; kernel?: string } } };
  cases: { name: string; dtype: string; tol: number; outErr: number | string; lseErr: number | string }[];
}

/** Runs the oracle grid in the installed project with `node` (optionally through an emulator) and checks every case. */
function runGrid(cmd: string, args: string[]): GridResult {
  const script = join(app, 'oracle-grid.mjs');
  if (!existsSync(script)) cpSync(GRID, script);
  const res = JSON.parse(run(cmd, [...args, script], { cwd: app, env, timeout: 600_000 })) as GridResult;
  expect(res.cases.length).toBeGreaterThanOrEqual(50);
  const failed = res.cases.filter((c) => !(typeof c.outErr === 'number' && c.outErr <= c.tol && typeof c.lseErr === 'number' && c.lseErr <= c.tol));
  expect(failed).toEqual([]);
  return res;
}

beforeAll(() => {
  packed = pack(work);
  env = { ...process.env, PATH: nodeOnlyPath(work), npm_config_ignore_scripts: 'true' };
  app = join(work, 'app');
  installInto(app, packed.tarball, env);
}, 300_000);

describe('npm pack', () => {
  it('ships what a prebuilt install needs, and no tests, dev scripts or source maps', () => {
    const files = packed.files;
    for (const f of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/bench/cli.js', 'dist/bench/memory-child.js', 'scripts/install.cjs', 'CMakeLists.txt', 'native/include/attnflow.h']) {
      expect(files).toContain(f);
    }
    expect(files.some((p) => /^prebuilds\/linux-x64\/attnflow\.glibc\.node$/.test(p))).toBe(true);
    const unwanted = files.filter(
      (p) =>
        /^(test|build|node_modules|bench|lib|dist-bench|dist\/lib|\.ci)\//.test(p) ||
        /^dist\/bench\/(cpu-goals|ort|mask-compile|linear)\.|\/onnx\//.test(p) ||
        /^native\/(.+\/)?test\//.test(p) ||
        /\.map$/.test(p) ||
        (/\.ts$/.test(p) && !/\.d\.ts$/.test(p)) ||
        (p.startsWith('scripts/') && p !== 'scripts/install.cjs') ||
        /^tsconfig/.test(p),
    );
    expect(unwanted).toEqual([]);
    for (const f of files.filter((p) => p.endsWith('.js'))) {
      expect(readFileSync(join(packed.dir, f), 'utf8'), f).not.toMatch(/sourceMappingURL/);
    }
  });

  it('every shipped module is reachable from the entry points or their types (no dev-only scripts)', () => {
    const shipped = new Set(packed.files.filter((p) => p.startsWith('dist/') && (p.endsWith('.js') || p.endsWith('.d.ts'))));
    const entry = pkg.exports['.'] as { types: string; default: string };
    const reached = new Set<string>();
    const queue = [entry.default, entry.types, ...Object.values(pkg.bin)].map((p) => posix.normalize(p));
    while (queue.length > 0) {
      const f = queue.pop()!;
      if (reached.has(f)) continue;
      reached.add(f);
      expect(shipped.has(f), `${f} is imported but not shipped`).toBe(true);
      const types = f.endsWith('.d.ts');
      for (const spec of localImports(readFileSync(join(packed.dir, f), 'utf8'))) {
        const target = posix.join(posix.dirname(f), spec);
        // a declaration file's imports name the .js module: its types and the module ship together
        // (the module is queued too, so that its own imports are followed)
        queue.push(types ? target.replace(/\.js$/, '.d.ts') : target);
        if (types) queue.push(target);
      }
    }
    // a module of types only compiles to `export {};`: nothing to reach
    const typesOnly = (f: string) => readFileSync(join(packed.dir, f), 'utf8').trim() === 'export {};';
    expect([...shipped].filter((f) => f.endsWith('.js') && !reached.has(f) && !typesOnly(f))).toEqual([]);
  });

  it('npm publish refuses prebuilds that scripts/prebuild-linux.sh did not make', () => {
    const copy = join(work, 'unreleased');
    mkdirSync(join(copy, 'scripts'), { recursive: true });
    for (const f of ['scripts/check-release.cjs', 'scripts/source-hash.cjs', 'CMakeLists.txt']) cpSync(join(root, f), join(copy, f));
    cpSync(join(root, 'native'), join(copy, 'native'), { recursive: true });
    cpSync(join(packed.dir, 'prebuilds'), join(copy, 'prebuilds'), { recursive: true });
    const res = spawnSync(process.execPath, ['scripts/check-release.cjs'], { cwd: copy, encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/not publishing:[\s\S]*build\/prebuild-linux\.json is missing/);
  });

  it('keeps build tools and benchmark peers out of dependencies, and builds on prepack, not prepare', () => {
    const deps = Object.keys(pkg.dependencies);
    for (const tool of ['cmake-js', 'node-addon-api', 'onnxruntime-node', '@ruvector/attention', 'prebuildify']) expect(deps).not.toContain(tool);
    expect(pkg.scripts.prepare).toBeUndefined();
    expect(pkg.scripts.prepack).toMatch(/tsc/);
  });
});

describe('installed without install scripts or a compiler', () => {
  it('import and require load the prebuilt binary with this Node', () => {
    expect(existsSync(join(app, 'node_modules', 'attnflow', 'build'))).toBe(false);
    const info = JSON.parse(run(process.execPath, ['-e', "import('attnflow').then((m) => console.log(JSON.stringify(m.info())))"], { cwd: app, env }));
    expect(info.version).toBe(pkg.version);
    expect(info.backends.cpu.available).toBe(true);
    expect(typeof info.backends.cuda.available).toBe('boolean');
    if (!info.backends.cuda.available) expect(info.backends.cuda.reason).toMatch(/\w/);
    const required = run(process.execPath, ['-e', "console.log(typeof require('attnflow').attention)"], { cwd: app, env });
    expect(required.trim()).toBe('function');
  });

  it('the installed bench command runs, and says how to add the peers the package does not ship', () => {
    const benchOut = join(work, 'bench-out');
    const res = spawnSync(
      join(app, 'node_modules', '.bin', 'attnflow'),
      ['bench', '--seq', '32', '--patterns', 'dense', '--backends', 'cpu,ort-mha', '--head-dim', '8', '--heads', '1', '--time', '1', '--iterations', '1', '--memory-seq', '64', '--out', benchOut],
      { cwd: app, env, encoding: 'utf8' },
    );
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/ort-mha skipped: .*npm run build:bench.*npm install --no-save --ignore-scripts onnxruntime-node/);
    const report = JSON.parse(readFileSync(join(benchOut, 'bench.json'), 'utf8'));
    expect(report.results.map((r: { backend: string; status: string }) => `${r.backend} ${r.status}`)).toEqual(['cpu ok', 'ort-mha skipped']);
    expect(report.memory.peakRss).toBeGreaterThan(0);
  });

  const oldest = oldestAllowedNode(pkg.engines.node);
  it(`import, require and the oracle grid work with the oldest Node engines allows (${oldest})`, () => {
    expect(process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64'), 'this check runs an official linux Node').toBe(true);
    const node = nodeBinary(oldest, process.arch as 'x64' | 'arm64');
    expect(run(node, ['--version']).trim()).toBe(`v${oldest}`);
    const both = "const c = require('attnflow'); import('attnflow').then((m) => console.log(typeof c.attention, typeof m.attention, c.info === m.info))";
    expect(run(node, ['-e', both], { cwd: app, env }).trim()).toBe('function function true');
    const res = runGrid(node, []);
    expect(res.info.node).toBe(oldest);
  }, 300_000);

  it("without a binary for the platform, attention() throws how to get one; 'reference' still runs", () => {
    const bare = join(work, 'bare');
    mkdirSync(bare);
    cpSync(join(app, 'node_modules'), join(bare, 'node_modules'), { recursive: true });
    cpSync(join(app, 'package.json'), join(bare, 'package.json'));
    rmSync(join(bare, 'node_modules', 'attnflow', 'prebuilds'), { recursive: true });
    const script = `import('attnflow').then(async ({ attention, Tensor }) => {
      const t = Tensor.randn([1, 1, 8, 8], { seed: 1 });
      const ref = await attention(t, t, t, { backend: 'reference' });
      try { await attention(t, t, t); console.log(JSON.stringify({ ran: true })); }
      catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message, ref: ref.shape })); }
    })`;
    const r = JSON.parse(run(process.execPath, ['-e', script], { cwd: bare, env }));
    expect(r.name).toBe('NativeUnavailableError');
    expect(r.message).toContain('npm rebuild attnflow --foreground-scripts');
    expect(r.message).toMatch(/CMake >= 3\.18 and a C\+\+17 compiler/);
    expect(r.ref).toEqual([1, 1, 8, 8]);
  });
});

interface ReleaseRecord {
  chroot: string;
  targets: Record<string, { file: string; sha256: string; glibc: string; cuda: string | false; sources: string }>;
}
const recordFile = join(root, 'build', 'prebuild-linux.json');
const release: ReleaseRecord | null = existsSync(recordFile) ? JSON.parse(readFileSync(recordFile, 'utf8')) : null;

describeWith('release', release ? null : 'no release prebuilds (build/prebuild-linux.json: run `sudo scripts/prebuild-linux.sh`)', 'release prebuilds in the tarball', () => {
  const targets = { 'linux-x64': 'x86-64', 'linux-arm64': 'aarch64' } as const;
  for (const [target, machine] of Object.entries(targets)) {
    it(`${target}: present, made from the current sources, GLIBC_${GLIBC_FLOOR} at most`, () => {
      const rec = release!.targets[target];
      expect(rec, `build/prebuild-linux.json has no ${target}`).toBeDefined();
      const file = `prebuilds/${target}/attnflow.glibc.node`;
      expect(packed.files).toContain(file);
      const bytes = readFileSync(join(packed.dir, file));
      expect(createHash('sha256').update(bytes).digest('hex'), `${file} is not the binary scripts/prebuild-linux.sh made`).toBe(rec.sha256);
      expect(rec.sources, `${file} was built from other sources: rerun scripts/prebuild-linux.sh`).toBe(sourceHash(root));
      expect(elfMachine(join(packed.dir, file))).toBe(machine);
      const versions = glibcVersions(join(packed.dir, file));
      expect(versions.length).toBeGreaterThan(0);
      expect(versions.filter((v) => compareVersions(v, GLIBC_FLOOR) > 0)).toEqual([]);
    });
  }

  it("npm publish's guard (prepublishOnly) accepts them", () => {
    expect(pkg.scripts.prepublishOnly).toBe('node scripts/check-release.cjs');
    expect(run(process.execPath, ['scripts/check-release.cjs'], { cwd: root })).toMatch(/release prebuilds for linux-x64 and linux-arm64 are in place/);
  });

  it('linux-x64 includes the CUDA backend where this machine has nvcc', () => {
    const info = JSON.parse(run(process.execPath, ['-e', "import('attnflow').then((m) => console.log(JSON.stringify(m.info())))"], { cwd: app, env }));
    expect(info.backends.cuda.compiled).toBe(has('nvcc'));
    expect(release!.targets['linux-x64'].cuda !== false).toBe(has('nvcc'));
  });
});

const qemu = ['qemu-aarch64-static', 'qemu-aarch64'].map(which).find((p) => p !== null);
const sysroot = release ? join(release.chroot, 'usr', 'aarch64-linux-gnu') : null;
const arm64Unavailable = !release?.targets['linux-arm64']
  ? 'no linux-arm64 release prebuild (run `sudo scripts/prebuild-linux.sh`)'
  : !qemu
    ? 'qemu-user is not installed (apt-get install qemu-user-static)'
    : !existsSync(join(sysroot!, 'lib', 'ld-linux-aarch64.so.1'))
      ? `no arm64 libraries at ${sysroot} (the chroot of scripts/prebuild-linux.sh)`
      : null;

describeWith('arm64', arm64Unavailable, 'linux-arm64 under qemu-user', () => {
  it('an arm64 Node loads the prebuilt binary, info() reports NEON, the CPU backend passes the oracle grid', () => {
    const node = nodeBinary(oldestAllowedNode(pkg.engines.node), 'arm64');
    const res = runGrid(qemu!, ['-L', sysroot!, node]);
    expect(res.info.arch).toBe('arm64');
    expect(res.info.backends.cpu.available).toBe(true);
    expect(res.info.backends.cpu.simd).toContain('neon');
    expect(res.info.backends.cpu.kernel).toBe('neon');
  }, 600_000);
});
