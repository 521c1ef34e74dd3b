/**
 * Speed of `analyze` at scale: seqLen 65536 and 64 layers for the seeds' patterns — window,
 * sliding, log, dilated (one dilation, and 16^l per layer), causal, a streaming composition and
 * random masks (one mask for every layer, and one redrawn per layer). Structured patterns are
 * analysed exactly over all queries; the unstructured ones over a sample of queries
 * (--sample-queries), as `attnflow analyze --sample-queries` would.
 *
 * Usage: node dist-bench/bench/analysis.js [--seq N] [--layers L] [--runs K] [--skip-redrawn] [--json FILE]
 * Prints a Markdown table on stdout, progress on stderr.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { analyze, type Analysis } from '../lib/analysis/analyze.js';
import { expandStack } from '../lib/analysis/layer-template.js';

interface Case {
  label: string;
  stack: string[];
  sampleQueries?: number;
}

interface Row {
  label: string;
  method: string;
  queries: number;
  fullDepth: number | null;
  saturationDepth: number | null;
  worstCoverage: number;
  medianMs: number;
  runs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function measure(c: Case, seqLen: number, layers: number, runs: number): Row {
  const times: number[] = [];
  let a: Analysis | undefined;
  for (let k = 0; k < runs; k++) {
    // fresh pattern objects every run: no draw cache or row is carried over
    const t0 = performance.now();
    a = analyze(c.stack.length === 1 ? c.stack[0] : c.stack, { seqLen, layers, sampleQueries: c.sampleQueries });
    times.push(performance.now() - t0);
  }
  const cov = a!.receptiveField.minCoverage;
  return {
    label: c.label,
    method: a!.method,
    queries: a!.queries,
    fullDepth: a!.fullDepth,
    saturationDepth: a!.saturationDepth,
    worstCoverage: cov.length ? cov[cov.length - 1] : 1 / seqLen,
    medianMs: median(times),
    runs,
  };
}

function table(rows: Row[], seqLen: number, layers: number): string {
  const head = `| pattern (n = ${seqLen}, ${layers} layers) | method | queries | full depth | saturation | worst coverage | median ms |\n|---|---|---:|---:|---:|---:|---:|`;
  const body = rows.map(
    (r) =>
      `| \`${r.label.replace(/\|/g, '\\|')}\` | ${r.method} | ${r.queries} | ${r.fullDepth ?? '—'} | ${r.saturationDepth ?? '—'} | ${(100 * r.worstCoverage).toPrecision(3)}% | ${r.medianMs.toFixed(0)} |`,
  );
  return [head, ...body].join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      seq: { type: 'string' },
      layers: { type: 'string' },
      runs: { type: 'string' },
      'skip-redrawn': { type: 'boolean' },
      json: { type: 'string' },
    },
  });
  const seqLen = Number(values.seq ?? 65536);
  const layers = Number(values.layers ?? 64);
  const runs = Number(values.runs ?? 3);
  const cases: Case[] = [
    { label: 'causal', stack: ['causal'] },
    { label: 'sliding(256)', stack: ['sliding(256)'] },
    { label: 'window(128, 16)', stack: ['window(128, 16)'] },
    { label: 'log', stack: ['log'] },
    { label: 'dilated(16, 16)', stack: ['dilated(16, 16)'] },
    { label: 'dilated(16, {16^l})', stack: expandStack(['dilated(16, {16^l})'], layers) },
    { label: 'sliding(256) ×5 / causal', stack: ['sliding(256)', 'sliding(256)', 'sliding(256)', 'sliding(256)', 'sliding(256)', 'causal'] },
    { label: 'causal & sliding(64) | sink(4)', stack: ['causal & sliding(64) | sink(4)'], sampleQueries: 64 },
    { label: 'random(8, 1)', stack: ['random(8, 1)'], sampleQueries: 256 },
  ];
  if (!values['skip-redrawn']) cases.push({ label: 'random(8, {l})', stack: expandStack(['random(8, {l})'], layers), sampleQueries: 1 });
  const rows: Row[] = [];
  for (const c of cases) {
    // the redrawn stack draws layers × seqLen random rows: one run
    const k = c.label === 'random(8, {l})' ? 1 : runs;
    process.stderr.write(`analysis: ${c.label} (${k} run${k === 1 ? '' : 's'})\n`);
    rows.push(measure(c, seqLen, layers, k));
  }
  process.stdout.write(table(rows, seqLen, layers) + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify({ seqLen, layers, rows }, null, 2));
}

main();
