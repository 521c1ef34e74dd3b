/** Writes a BenchReport as DIR/bench.json, DIR/bench.md (Markdown tables) and DIR/bench.svg. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport, CaseResult } from './results.js';
import { renderChart } from './svg.js';

function ms(v: number | undefined): string {
  if (v === undefined) return '—';
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 1) return `${v.toFixed(1)} ms`;
  return `${(v * 1000).toFixed(0)} µs`;
}

function num(v: number | undefined, digits = 1): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

function mib(b: number): string {
  return `${(b / 2 ** 20).toFixed(1)} MiB`;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function table(head: string[], rows: string[][]): string {
  const align = head.map((h, i) => (i === 0 || /pattern|backend|dtype|reason/.test(h) ? '---' : '---:'));
  return [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** cpu vs peers on the same (pattern, D, N): speedups of attnflow cpu over each ORT graph. */
function peerRows(results: CaseResult[]): string[][] {
  const ok = results.filter((r) => r.status === 'ok');
  const rows: string[][] = [];
  for (const c of ok.filter((r) => r.backend === 'cpu' && r.dtype === 'float32')) {
    const same = (b: string) => ok.find((r) => r.backend === b && r.canonical === c.canonical && r.seq === c.seq && r.headDim === c.headDim && r.dtype === c.dtype);
    const mha = same('ort-mha');
    const mm = same('ort-matmul');
    if (!mha && !mm) continue;
    rows.push([
      c.pattern,
      String(c.headDim),
      String(c.seq),
      ms(c.medianMs),
      ms(mha?.medianMs),
      mha ? `${(mha.medianMs! / c.medianMs!).toFixed(2)}×` : '—',
      ms(mm?.medianMs),
      mm ? `${(mm.medianMs! / c.medianMs!).toFixed(2)}×` : '—',
    ]);
  }
  return rows;
}

export function renderMarkdown(r: BenchReport): string {
  const m = r.meta;
  const c = r.config;
  const cpu = m.cpuBackend;
  const o: string[] = [];
  o.push('# attnflow bench', '');
  o.push(`- date: ${m.date}; attnflow ${m.attnflow}; Node ${m.node}; ${m.platform}`);
  o.push(`- machine: ${m.cpuModel}, ${m.logicalCpus} logical CPUs; load average ${m.loadAvgStart.map((x) => x.toFixed(2)).join(' / ')} at start, ${m.loadAvgEnd.map((x) => x.toFixed(2)).join(' / ')} at end (1/5/15 min)`);
  o.push(
    `- attnflow cpu backend: ${cpu.available ? `${cpu.threads} threads, SIMD ${cpu.simd?.join(' ') || 'none'}, tile ${cpu.tile?.blockQ}×${cpu.tile?.blockK}` : `unavailable (${cpu.reason})`}`,
  );
  if (m.onnxruntime) o.push(`- onnxruntime-node ${m.onnxruntime}: ${m.ortThreads} intra-op threads, CPU execution provider, all graph optimizations`);
  else if (m.onnxruntimeError) o.push(`- onnxruntime-node: unavailable (${m.onnxruntimeError})`);
  else o.push('- onnxruntime-node: not used');
  o.push(`- shapes: B=${c.batch}, H=${c.heads}; layout [B, H, N, D] for attnflow and the MatMul graph, [B, N, H·D] for MultiHeadAttention; self-attention (N queries, N keys)`);
  o.push(`- timing: tinybench, 1 warm-up call, ≥ ${c.minIterations} timed calls and ≥ ${c.timeMs} ms per case; the median is reported. Wall time ${m.wallS.toFixed(0)} s${c.quick ? ' (--quick)' : ''}.`);
  o.push(`- FLOPs = 4·B·H·D·(allowed query-key pairs), counted from the compiled mask; GFLOP/s = FLOPs / median. "dense-eq" = 4·B·H·D·N² / median, the rate a dense kernel would need to match.`);
  o.push('');

  const ok = r.results.filter((x) => x.status === 'ok');
  o.push('## Attention', '');
  if (ok.length === 0) o.push('No case completed.');
  else {
    const sorted = [...ok].sort((a, b) => a.backend.localeCompare(b.backend) || a.pattern.localeCompare(b.pattern) || a.headDim - b.headDim || a.dtype.localeCompare(b.dtype) || a.seq - b.seq);
    o.push(
      table(
        ['backend', 'pattern', 'dtype', 'D', 'N', 'median', 'GFLOP/s', 'dense-eq GFLOP/s', 'density', '±rme %', 'samples'],
        sorted.map((x) => [
          x.backend,
          x.pattern,
          x.dtype,
          String(x.headDim),
          String(x.seq),
          ms(x.medianMs),
          num(x.gflops),
          num(x.denseEqGflops),
          (x.allowedPairs / (x.heads * x.seq * x.seq)).toFixed(4),
          num(x.rme),
          String(x.samples ?? '—'),
        ]),
      ),
    );
  }
  o.push('');

  const peers = peerRows(r.results);
  if (peers.length) {
    o.push('## attnflow cpu against ONNX Runtime (float32)', '');
    o.push('Speedup = peer time / attnflow time (> 1: attnflow is faster).', '');
    o.push(table(['pattern', 'D', 'N', 'attnflow cpu', 'ort-mha', 'speedup', 'ort-matmul', 'speedup'], peers));
    o.push('');
  }

  if (r.masks.length) {
    const t = r.masks[0];
    o.push(`## Mask compilation (compileMask for the CPU tile ${t.blockQ}×${t.blockK}, H=${t.heads}, mask cache cleared before each run)`, '');
    o.push('Tiles are those of the compiled mask (one mask serves all heads when "mask heads" is 1). Tile efficiency = allowed pairs / pairs in visited tiles.', '');
    o.push(
      table(
        ['pattern', 'N', 'mask heads', 'tiles', 'partial tiles', 'density', 'tile efficiency', 'compile (median)', 'runs'],
        r.masks.map((x) => [x.pattern, String(x.seq), String(x.maskHeads), String(x.tiles), String(x.partialTiles), x.density.toFixed(4), x.tileEfficiency.toFixed(3), ms(x.compileMs), String(x.runs)]),
      ),
    );
    o.push('');
  }

  o.push('## Peak memory (child process)', '');
  if (!r.memory) o.push('Not measured.');
  else if ('error' in r.memory) o.push(`Not measured: ${r.memory.error}`);
  else {
    const x = r.memory;
    const s = x.spec;
    o.push(`attnflow ${s.backend}, \`${s.pattern}\`, B=${s.batch}, H=${s.heads}, N=${s.seq}, D=${s.headDim}, ${s.dtype}; one call of ${ms(x.callMs)}.`, '');
    o.push(
      table(
        ['quantity', 'value'],
        [
          ['tensors (q, k, v, out)', mib(x.tensorBytes)],
          ['RSS before the tensors (Node + attnflow, warmed up)', mib(x.baselineRss)],
          [`peak RSS (${x.peakSource})`, mib(x.peakRss)],
          ['peak − tensors', mib(x.peakMinusTensors)],
          ['peak − RSS before − tensors (the call\'s own memory)', mib(x.attentionOverhead)],
        ],
      ),
    );
  }
  o.push('');

  const skipped = r.results.filter((x) => x.status !== 'ok');
  if (skipped.length || r.notApplicable) {
    o.push('## Not run', '');
    if (r.notApplicable) o.push(`${r.notApplicable} backend/pattern/dtype/N combinations do not apply (ORT peers: float32 only; MatMul graph dense only; MultiHeadAttention dense or causal only; reference backend only at N ≤ ${r.config.referenceMaxSeq}) and are left out.`, '');
    if (skipped.length) {
      o.push(
        table(
          ['backend', 'pattern', 'dtype', 'D', 'N', 'status', 'reason'],
          skipped.map((x) => [x.backend, x.pattern, x.dtype, String(x.headDim), String(x.seq), x.status, x.reason ?? '']),
        ),
      );
    }
    o.push('');
  }
  return o.join('\n');
}

export interface WrittenFiles {
  json: string;
  md: string;
  svg: string;
}

export function writeReport(report: BenchReport, dir: string): WrittenFiles {
  mkdirSync(dir, { recursive: true });
  const files = { json: join(dir, 'bench.json'), md: join(dir, 'bench.md'), svg: join(dir, 'bench.svg') };
  writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(files.md, renderMarkdown(report));
  writeFileSync(files.svg, renderChart(report));
  return files;
}
