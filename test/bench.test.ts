/**
 * `attnflow bench` end to end on a tiny matrix: the three report files, one result per case with
 * a reason whenever a case was not timed, the CUDA backend skipped with the device's reason on a
 * machine without one, one probe call per backend before any estimate, results in a temporary
 * folder unless --out names one, peers that cannot load skipped with the command that adds them,
 * and usage errors as one line with exit code 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchCommand, parseBenchArgs } from '../lib/bench/cli.js';
import type { PeerHarness } from '../lib/bench/peers.js';
import type { BenchReport } from '../lib/bench/runner.js';
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
    // one probe call per (backend, dtype) that can run here, before any case was estimated
    const probed = report.probes.map((p) => `${p.backend} ${p.dtype}`).sort();
    expect(probed).toEqual(['cpu float16', 'cpu float32', 'reference float16', 'reference float32', ...(cuda.isAvailable() ? ['cuda float16', 'cuda float32'] : [])].sort());
    for (const p of report.probes) {
      expect(p.error).toBeUndefined();
      expect(p.seq).toBe(64);
      expect(p.gflops).toBeGreaterThan(0);
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
    expect(parsed.outDir).toBeNull();
  });

  it('without --out, writes into a new folder under the temporary directory and says where', async () => {
    const s = io();
    const cwd = process.cwd();
    const argv = ['--seq', '32', '--patterns', 'causal', '--backends', 'reference', '--head-dim', '16', '--heads', '2', '--time', '1', '--iterations', '1', '--no-memory'];
    expect(await benchCommand(argv, s.io)).toBe(0);
    const [json, md, svg] = s.out.join('').trim().split('\n');
    const outDir = dirname(json);
    try {
      expect(dirname(outDir)).toBe(tmpdir());
      expect(outDir).toMatch(/attnflow-bench-/);
      expect([md, svg]).toEqual([join(outDir, 'bench.md'), join(outDir, 'bench.svg')]);
      expect(existsSync(json)).toBe(true);
      expect(s.err.join('')).toContain(`results in ${outDir}`);
      expect(outDir.startsWith(cwd + sep)).toBe(false); // nothing lands in the working directory
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('skips the ONNX Runtime peers with the command that adds onnxruntime-node when it is missing', async () => {
    const missing: PeerHarness = {
      load: async () => ({ error: 'onnxruntime-node is not installed; add it with: npm install --no-save --ignore-scripts onnxruntime-node@^1.30' }),
      mha: () => Promise.reject(new Error('not loaded')),
      matmulAttention: () => Promise.reject(new Error('not loaded')),
    };
    for (const peers of [async () => missing, async () => ({ error: 'the peer harness is not built' })]) {
      const s = io();
      const argv = ['--seq', '32', '--patterns', 'dense', '--backends', 'reference,ort-mha,ort-matmul', '--head-dim', '16', '--heads', '2', '--time', '1', '--iterations', '1', '--no-memory', '--out', dir];
      expect(await benchCommand(argv, s.io, { peers })).toBe(0);
      const report = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as BenchReport;
      const why = 'load' in (await peers()) ? 'npm install --no-save --ignore-scripts onnxruntime-node@^1.30' : 'the peer harness is not built';
      expect(s.err.join('')).toContain(`attnflow bench: ort-mha, ort-matmul skipped: `);
      expect(s.err.join('')).toContain(why);
      for (const b of ['ort-mha', 'ort-matmul'] as const) {
        const r = report.results.find((x) => x.backend === b)!;
        expect(r.status).toBe('skipped');
        expect(r.reason).toContain(why);
      }
      expect(report.results.find((x) => x.backend === 'reference')!.status).toBe('ok');
      expect(report.meta.onnxruntimeError).toContain(why);
    }
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
