import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { commands, main, type CliIO } from '../lib/cli.js';

// `attnflow info` only wires info() / formatInfo() to stdout; test that wiring without loading the
// native addon (lib/info.ts has its own tests).
vi.mock('../lib/info.js', () => ({
  info: () => ({ version: 'fake-version', backends: { reference: { available: true } } }),
  formatInfo: (i: { version: string }) => `attnflow ${i.version}\nbackends: fake`,
}));

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/** A failure is one line on stderr, nothing on stdout, and no stack trace. */
function expectOneLineError(r: { code: number; out: string; err: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.out).toBe('');
  expect(r.err.endsWith('\n')).toBe(true);
  expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).not.toMatch(/\.ts:\d+/);
  expect(r.err).toMatch(pattern);
}

describe('attnflow bin', () => {
  it('is a node script', () => {
    expect(readFileSync(new URL('../lib/cli.ts', import.meta.url), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('--version and --help', async () => {
    expect(await run('--version')).toEqual({ code: 0, out: `${pkg.version}\n`, err: '' });
    expect((await run('-v')).out).toBe(`${pkg.version}\n`);
    const h = await run('--help');
    expect(h.code).toBe(0);
    for (const c of ['info', 'mask', 'analyze']) expect(h.out).toContain(`  ${c}`);
    expect((await run('help')).out).toBe(h.out);
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: attnflow <command>');
  });

  it('<command> --help', async () => {
    for (const c of ['info', 'mask', 'analyze']) {
      const r = await run(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: attnflow ${c}`);
      expect((await run('help', c)).out).toBe(r.out);
      expect((await run(c, 'causal', '-h')).out).toBe(r.out);
    }
  });

  it('unknown commands and options exit 2 with a hint', async () => {
    const r = await run('frobnicate');
    expectOneLineError(r, /unknown command 'frobnicate'.*--help/);
    expect(r.code).toBe(2);
    expectOneLineError(await run('--frob'), /unknown option '--frob'/);
    expectOneLineError(await run('mask', 'causal', '--n', '4', '--colour', 'red'), /--colour/);
  });

  it('dispatches through the commands map (where bench will be registered)', async () => {
    commands.echo = { summary: 'test', help: 'Usage: attnflow echo', run: (args, io) => (io.stdout.write(args.join(',')), 7) };
    try {
      expect(await run('echo', 'a', 'b')).toEqual({ code: 7, out: 'a,b', err: '' });
      expect((await run('--help')).out).toContain('  echo');
    } finally {
      delete commands.echo;
    }
  });
});

describe('attnflow mask', () => {
  it('bits', async () => {
    expect(await run('mask', 'causal & sliding(2)', '--n', '4', '--format', 'bits')).toEqual({ code: 0, out: '1000\n1100\n0110\n0011\n', err: '' });
    expect((await run('mask', 'causal', '--n', '3', '--format=bits', '--seq-q', '1')).out).toBe('111\n');
  });

  it('grid (default)', async () => {
    const r = await run('mask', 'causal & sliding(2)', '--n', '4');
    expect(r.code).toBe(0);
    expect(r.out).toBe(['  │ 0 1 2 3', '──┼────────', '0 │ ✔', '1 │ ✔ ✔', '2 │   ✔ ✔', '3 │     ✔ ✔', ''].join('\n'));
  });

  it('svg', async () => {
    const r = await run('mask', 'log', '--n', '4096', '--format', 'svg', '--tile', '128x64');
    expect(r.code).toBe(0);
    expect(r.out.startsWith('<svg')).toBe(true);
    expect(r.out).toContain('n = 4096');
  });

  it('bad input: one line on stderr, non-zero exit', async () => {
    expectOneLineError(await run('mask', 'sliding(', '--n', '4'), /bad pattern 'sliding\('/);
    expectOneLineError(await run('mask', 'causal'), /--n is required/);
    expectOneLineError(await run('mask', 'causal', '--n', '4.5'), /--n must be a non-negative integer/);
    expectOneLineError(await run('mask', 'causal', '--n', 'ten'), /--n must be/);
    expectOneLineError(await run('mask', 'causal', '--n', '0'), /--n must be in/);
    expectOneLineError(await run('mask', 'causal', '--n', '513'), /too large for --format grid/);
    expectOneLineError(await run('mask', 'causal', '--n', '100000', '--format', 'bits'), /too large for --format bits/);
    expectOneLineError(await run('mask', 'causal', '--n', '8', '--format', 'png'), /--format must be grid, bits or svg/);
    expectOneLineError(await run('mask', 'causal', '--n', '8', '--seq-q', '9'), /--seq-q must be in \[1, 8\]/);
    expectOneLineError(await run('mask', '--n', '8'), /a pattern is required/);
    expectOneLineError(await run('mask', 'causal', '--n'), /--n/);
    expect((await run('mask', 'sliding(', '--n', '4')).code).toBe(2);
  });
});

describe('attnflow analyze', () => {
  it('--json prints the analyze object', async () => {
    const r = await run('analyze', 'causal & sliding(8)', '--n', '64', '--layers', '10', '--json');
    expect(r.code).toBe(0);
    const a = JSON.parse(r.out);
    expect(a.fullDepth).toBe(9);
    expect(a.receptiveField.last).toEqual([8, 15, 22, 29, 36, 43, 50, 57, 64, 64]);
    expect(a.receptiveField.min).toHaveLength(10);
    expect(a.neighborhood).toEqual({ min: 1, mean: expect.any(Number), max: 8 });
    expect(typeof a.density).toBe('number');
    expect(typeof a.tileEfficiency).toBe('number');
  });

  it('--tile changes the tile efficiency', async () => {
    const a = JSON.parse((await run('analyze', 'causal', '--n', '256', '--layers', '1', '--json', '--tile', '16x16')).out);
    const b = JSON.parse((await run('analyze', 'causal', '--n', '256', '--layers', '1', '--json')).out);
    expect(a.tile).toEqual({ blockQ: 16, blockK: 16 });
    expect(a.tileEfficiency).toBeGreaterThan(b.tileEfficiency);
  });

  it('prints a human table', async () => {
    const r = await run('analyze', 'log', '--n', '1024', '--layers', '12');
    expect(r.code).toBe(0);
    expect(r.out).toContain('pattern          log');
    expect(r.out).toContain('full depth       10 layers');
    expect(r.out).toMatch(/^\s+10\s+1,024\s+100%\s+1\s/m);
    const long = await run('analyze', 'sliding(4)', '--n', '1000', '--layers', '100');
    expect(long.out).toContain('not within 100 layers');
    expect(long.out).toContain('…');
  });

  it('bad input', async () => {
    expectOneLineError(await run('analyze', 'causal', '--n', '64'), /--layers is required/);
    expectOneLineError(await run('analyze', 'causal', '--layers', '2'), /--n is required/);
    expectOneLineError(await run('analyze', 'causal', '--n', '64', '--layers', '-1'), /--layers/);
    expectOneLineError(await run('analyze', 'causal', '--n', '64', '--layers', '2', '--tile', '128'), /--tile must look like 64x64/);
    expectOneLineError(await run('analyze', 'nonsense(', '--n', '64', '--layers', '2'), /bad pattern/);
    expectOneLineError(await run('analyze', '--layer-patterns', 'causal; sliding(', '--n', '64', '--layers', '2'), /bad pattern 'sliding\(' \(layer pattern #1\)/);
    expectOneLineError(await run('analyze', '--layer-patterns', 'causal;; log', '--n', '64', '--layers', '2'), /layer pattern #1 of .* is empty/);
    expectOneLineError(await run('analyze', 'random(4, {x})', '--n', '64', '--layers', '2'), /unknown layer placeholder \{x\}/);
    expectOneLineError(await run('analyze', 'causal', '--compare', 'log', '--n', '64', '--layers', '2'), /one of a pattern, --layer-patterns or --compare/);
    expectOneLineError(await run('analyze', 'causal', '--n', '64', '--layers', '2', '--svg', 'x.svg'), /apply to --compare/);
    expectOneLineError(await run('analyze', '--compare', 'log; ', '--n', '64', '--layers', '2'), /non-empty/);
    expectOneLineError(await run('analyze', '--compare', 'log', '--n', '64', '--layers', '2', '--format', 'html'), /--format must be text or md/);
    expectOneLineError(await run('analyze', 'log', '--n', '64', '--layers', '2', '--backend', 'tpu'), /--backend must be cpu or cuda/);
    expectOneLineError(await run('analyze', 'log', '--n', '64', '--layers', '2', '--sample-queries', '0'), /--sample-queries must be in/);
  });

  it('--layer-patterns cycles a stack; placeholders give every layer its own pattern', async () => {
    const a = JSON.parse((await run('analyze', '--layer-patterns', 'sliding(8); sliding(8); causal', '--n', '100', '--layers', '5', '--json')).out);
    expect(a.stack).toEqual(['sliding(8)', 'sliding(8)', 'causal']);
    expect(a.fullDepth).toBe(3);
    expect(a.receptiveField.last.slice(0, 2)).toEqual([8, 15]);
    const r = JSON.parse((await run('analyze', 'random(4, {l})', '--n', '100', '--layers', '3', '--json')).out);
    expect(r.stack).toEqual(['random(4, 0)', 'random(4, 1)', 'random(4, 2)']);
    const d = JSON.parse((await run('analyze', '--layer-patterns', 'dilated(4, {4^l})', '--n', '256', '--layers', '5', '--json')).out);
    expect(d.stack).toEqual(['dilated(4, 1)', 'dilated(4, 4)', 'dilated(4, 16)', 'dilated(4, 64)', 'dilated(4, 256)']);
    expect(d.fullDepth).toBe(4);
    const text = (await run('analyze', '--layer-patterns', 'log; causal', '--n', '64', '--layers', '2')).out;
    expect(text).toContain('layer patterns   2, cycled: log ; causal');
    expect(text).toContain('worst coverage');
  });

  it('--compare prints the measured table as text, Markdown and JSON, and draws the chart', async () => {
    const items = 'causal; sliding(16); log; dilated(4, {4^l}); sliding(8) / causal; random(4, 1)';
    const t = await run('analyze', '--compare', items, '--n', '256', '--layers', '12');
    expect(t.code).toBe(0);
    const lines = t.out.trimEnd().split('\n');
    expect(lines[2]).toMatch(/^pattern\s+\|N\(t\)\| min \/ mean \/ max\s+FLOPs vs causal\s+RF growth \(last query\)\s+full RF depth\s+saturation depth\s+worst coverage$/);
    expect(lines).toHaveLength(3 + 6);
    expect(lines[3]).toMatch(/^causal\s+1 \/ 129 \/ 256\s+100%\s+immediate \(1 layer\)\s+1\s+1\s+100%$/);
    expect(lines[4]).toMatch(/^sliding\(16\)\s.*linear, \+15\/layer\s+never \(≤ 12\)\s+> 12\s+70\.7%$/);
    expect(lines[5]).toMatch(/^log\s+1 \/ 8\.00 \/ 9\s.*\s8\s+8\s+100%$/);
    expect(lines[6]).toMatch(/^dilated\(4, \{4\^l\}\)\s.*exponential, ×4\.0\/layer\s+4\s+4\s+100%$/);
    expect(lines[7]).toMatch(/^sliding\(8\) \/ causal\s.*\s2\s+2\s+100%$/);
    const md = (await run('analyze', '--compare', items, '--n', '256', '--layers', '12', '--format', 'md')).out.trimEnd().split('\n');
    expect(md[0]).toBe('| pattern | \\|N(t)\\| min / mean / max | FLOPs vs causal | RF growth (last query) | full RF depth | saturation depth | worst coverage |');
    expect(md[1]).toBe('|---|---:|---:|---:|---:|---:|---:|');
    expect(md[3]).toMatch(/^\| `sliding\(16\)` \| 1 \/ 15\.5 \/ 16 \| 12\.1% \| linear, \+15\/layer \| never \(≤ 12\) \| > 12 \| 70\.7% \|$/);
    const j = JSON.parse((await run('analyze', '--compare', items, '--n', '256', '--layers', '12', '--json')).out);
    expect(j.rows.map((r: { label: string }) => r.label)).toEqual(items.split('; '));
    expect(j.rows[1].growth).toEqual({ shape: 'linear', rate: 15, layers: expect.any(Number) });
    expect(j.rows[3].analysis.stack).toHaveLength(12);
    expect(j.rows[0].flopsVsCausal).toBe(1);

    const dir = mkdtempSync(join(tmpdir(), 'attnflow-cli-'));
    try {
      const file = join(dir, 'flow.svg');
      expect((await run('analyze', '--compare', items, '--n', '256', '--layers', '12', '--svg', file)).code).toBe(0);
      const svg = readFileSync(file, 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.match(/<path d="M/g)).toHaveLength(6);
      expect(svg).toContain('dilated(4, {4^l}) <tspan fill="#6b7280">(full after 4)</tspan>');
      expect(svg).toContain('sliding(16) <tspan fill="#6b7280">(70.7% after 12)</tspan>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('attnflow info', () => {
  it('prints formatInfo(info()) or, with --json, the info object', async () => {
    expect(await run('info')).toEqual({ code: 0, out: 'attnflow fake-version\nbackends: fake\n', err: '' });
    const j = await run('info', '--json');
    expect(j.code).toBe(0);
    expect(j.out).toBe(JSON.stringify({ version: 'fake-version', backends: { reference: { available: true } } }, null, 2) + '\n');
    expectOneLineError(await run('info', 'extra'), /unexpected argument/);
  });
});
