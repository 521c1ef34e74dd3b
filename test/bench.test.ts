/**
 * `attnflow bench` end to end on a tiny matrix: the three report files, one result per case with
 * a reason whenever a case was not timed, the CUDA backend skipped with the device's reason on a
 * machine without one, and usage errors as one line with exit code 2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchCommand, parseBenchArgs } from '../bench/cli.js';
import type { BenchReport } from '../bench/runner.js';
import { cuda } from '../lib/index.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } } };
}

const dir = mkdtempSync(join(tmpdir(), 'attnflow-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('attnflow bench', () => {
  it('writes JSON, Markdown and SVG for a small sweep, with a reason for every case not timed', async () => {
    const s = io();
    const argv = ['--seq', '64,128', '--patterns', 'causal;causal & sliding(16)', '--backends', 'cpu,cuda,reference', '--dtypes', 'float32,float16', '--head-dim', '32', '--time', '5', '--iterations', '2', '--no-memory', '--out', dir];
    expect(await benchCommand(argv, s.io)).toBe(0);
    expect(s.out.join('')).toContain(join(dir, 'bench.json'));
    const report = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as BenchReport;
    // 2 seqs × 2 patterns × 2 dtypes × 3 backends
    expect(report.results).toHaveLength(24);
    for (const r of report.results) {
      if (r.status === 'ok') {
        expect(r.medianMs).toBeGreaterThan(0);
        expect(r.gflops).toBeGreaterThan(0);
      } else {
        expect(r.reason).toBeTruthy();
      }
    }
    const timed = report.results.filter((r) => r.status === 'ok').map((r) => r.backend);
    expect(timed).toContain('cpu');
    expect(timed).toContain('reference');
    const cudaRows = report.results.filter((r) => r.backend === 'cuda');
    if (!cuda.isAvailable()) {
      for (const r of cudaRows) {
        expect(r.status).toBe('skipped');
        expect(r.reason).toMatch(/^CUDA backend unavailable: cuda:0: /);
      }
    }
    const md = readFileSync(join(dir, 'bench.md'), 'utf8');
    expect(md).toMatch(/\| cpu \| causal & sliding\(16\) \|/);
    const svg = readFileSync(join(dir, 'bench.svg'), 'utf8');
    expect(svg).toMatch(/<svg[\s>]/);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('GFLOP/s');
    expect(s.err.join('')).toMatch(/cases timed/);
  });

  it('measures cuda by default only where a device is usable', () => {
    const parsed = parseBenchArgs(['--quick']);
    if (parsed.help) throw new Error('unexpected help');
    expect(parsed.config.backends.includes('cuda')).toBe(cuda.isAvailable());
    expect(parsed.config.backends).toContain('cpu');
  });

  it('bad flags: one line, exit code 2', async () => {
    for (const argv of [['--backends', 'tpu'], ['--seq', '0'], ['--patterns', 'causal &'], ['--dtypes', 'float64']]) {
      const s = io();
      expect(await benchCommand(argv, s.io)).toBe(2);
      const msg = s.err.join('');
      expect(msg).toMatch(/^attnflow bench: /);
      expect(msg.trim().split('\n')).toHaveLength(1);
    }
  });
});
