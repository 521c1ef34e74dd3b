/**
 * The package as users get it, for test/pack.test.ts: `npm pack` (its prepack compiles the
 * TypeScript), the tarball's file list and contents, an install into an empty project with no
 * install scripts and no compiler, Node binaries of other versions and architectures (the npm
 * packages node-linux-<arch> carry the official builds), and ELF symbol versions.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export function npmCli(): string {
  // npm-cli.js sits next to the node binary's lib folder on every standard install.
  const candidates = [process.env.npm_execpath, join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js')];
  for (const c of candidates) {
    if (c && c.endsWith('.js') && existsSync(c)) return c;
  }
  throw new Error('cannot find npm-cli.js');
}

export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status ?? res.signal ?? res.error?.message}):\n${res.stdout}\n${res.stderr}`);
  return String(res.stdout);
}

/** The full path of a command on PATH, or null. */
export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', 'command -v "$0"', cmd], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

export function has(cmd: string): boolean {
  return which(cmd) !== null;
}

export interface Packed {
  tarball: string;
  /** the tarball's paths, relative to the package root */
  files: string[];
  /** the tarball's size in bytes and the size of what it unpacks to */
  size: number;
  unpackedSize: number;
  /** the tarball unpacked */
  dir: string;
}

/** `npm pack` into `work` (running prepack), and the tarball unpacked into work/unpacked. */
export function pack(work: string): Packed {
  const out = run(process.execPath, [npmCli(), 'pack', '--json', '--pack-destination', work], { cwd: root });
  // prepack's own output precedes npm's JSON
  const info = (JSON.parse(out.slice(out.indexOf('[\n'))) as { filename: string; files: { path: string }[]; size: number; unpackedSize: number }[])[0];
  const tarball = join(work, info.filename);
  const dir = join(work, 'unpacked');
  mkdirSync(dir);
  run('tar', ['xzf', tarball, '-C', dir, '--strip-components=1']);
  return { tarball, files: info.files.map((f) => f.path), size: info.size, unpackedSize: info.unpackedSize, dir };
}

/** A folder holding a `node` link and nothing else: on it as PATH, no compiler, cmake or nvcc is found. */
export function nodeOnlyPath(work: string): string {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  return bin;
}

/** A new project in `dir` with the tarball installed, without running any install script. */
export function installInto(dir: string, tarball: string, env: NodeJS.ProcessEnv): void {
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  run(process.execPath, [npmCli(), 'install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir, env });
}

/** The lowest version `engines.node` allows, e.g. '20.19.0' for '^20.19.0 || >=22.12.0'. */
export function oldestAllowedNode(range: string): string {
  const versions = [...range.matchAll(/(\d+)\.(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
  if (versions.length === 0) throw new Error(`engines.node '${range}' names no version`);
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  return versions[0].join('.');
}

/**
 * The official Node binary of a version and architecture, from the npm package
 * node-linux-<arch>@<version> (fetched with `npm pack`, which ignores the package's os/cpu
 * fields), kept in build/node-cache.
 */
export function nodeBinary(version: string, arch: 'x64' | 'arm64'): string {
  const dir = join(root, 'build', 'node-cache', `node-linux-${arch}-${version}`);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  run(process.execPath, [npmCli(), 'pack', `node-linux-${arch}@${version}`, '--pack-destination', dir, '--silent'], { cwd: dir });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack node-linux-${arch}@${version} left no tarball in ${dir}`);
  run('tar', ['xzf', join(dir, tgz), '-C', dir]);
  return bin;
}

/** The GLIBC_x.y versions an ELF binary's dynamic symbols ask for (readelf reads any architecture). */
export function glibcVersions(file: string): string[] {
  const out = run('readelf', ['--dyn-syms', '--wide', file]);
  return [...new Set([...out.matchAll(/@GLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]))].sort(compareVersions);
}

export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The ELF machine of a binary: 'x86-64', 'aarch64', … (from its header). */
export function elfMachine(file: string): string {
  const m = readFileSync(file).readUInt16LE(18);
  return { 0x3e: 'x86-64', 0xb7: 'aarch64' }[m] ?? `machine 0x${m.toString(16)}`;
}

/**
 * The relative modules a shipped JavaScript file loads: static and dynamic imports, and files it
 * reaches by `new URL('./x.js', import.meta.url)` (child-process scripts).
 */
export function localImports(source: string): string[] {
  const specs = [
    ...source.matchAll(/\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g),
    ...source.matchAll(/\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g),
    ...source.matchAll(/\bimport\s+['"](\.{1,2}\/[^'"]+)['"]/g),
    ...source.matchAll(/new URL\(\s*['"](\.{1,2}\/[^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g),
  ];
  return specs.map((m) => m[1]);
}
