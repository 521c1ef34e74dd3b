/**
 * Decoding with a bounded KV cache: quality per policy and budget on planted-structure data
 * (kvcache-quality.ts) and decode speed at a long context (kvcache-speed.ts).
 *
 * Usage: node dist-bench/bench/kvcache.js [--quick] [--part quality|speed|all] [--seen N] [--json FILE]
 * Prints Markdown tables on stdout, progress on stderr. Default: quality at 2048 + 64 positions,
 * speed at 131072 positions with budget 4096 and 32 selected blocks of 64 (--quick: 16384).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { info } from '../lib/index.js';
import { runQuality, type QualityRow } from './kvcache-quality.js';
import { runSpeed, type SpeedReport } from './kvcache-speed.js';

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function qualityTable(rows: QualityRow[]): string {
  const lines = ['| policy | budget (keys per kv head) | rel. error vs full | attention mass retained |', '| --- | ---: | ---: | ---: |'];
  for (const r of rows) lines.push(`| ${r.policy} | ${r.budget} | ${r.relError.toFixed(4)} | ${(100 * r.massRetained).toFixed(1)} % |`);
  return lines.join('\n');
}

function speedTable(s: SpeedReport): string {
  const f = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(2));
  const lines = [
    `| decode step at ${s.seen} positions | ms / step | vs full over ${s.budget} keys | speedup vs full over ${s.seen} |`,
    '| --- | ---: | ---: | ---: |',
    `| full attention over ${s.budget} keys | ${f(s.fullBudgetMs)} | 1.00× | ${(s.fullSeenMs / s.fullBudgetMs).toFixed(1)}× |`,
    `| full attention over ${s.seen} keys | ${f(s.fullSeenMs)} | ${(s.fullSeenMs / s.fullBudgetMs).toFixed(1)}× | 1.0× |`,
  ];
  for (const p of s.policies) lines.push(`| KVCache '${p.policy}', budget ${s.budget} | ${f(p.ms)} | ${p.vsFullBudget.toFixed(2)}× | ${p.speedupVsFullSeen.toFixed(1)}× |`);
  if (s.select) lines.push(`| select ${s.select.blocks} blocks of 64 (+ diagonal), no eviction | ${f(s.select.ms)} | — | ${s.select.speedupVsFullSeen.toFixed(1)}× |`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, part: { type: 'string' }, seen: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('node dist-bench/bench/kvcache.js [--quick] [--part quality|speed|all] [--seen N] [--json FILE]\n');
    return 0;
  }
  const part = values.part ?? 'all';
  if (!['quality', 'speed', 'all'].includes(part)) throw new Error(`--part must be quality, speed or all (got ${part})`);
  const quick = values.quick === true;
  const inf = info();
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', logicalCpus: os.cpus().length, loadAvgStart: os.loadavg() },
    attnflow: { version: inf.version, threads: inf.backends.cpu.threads },
  };
  if (part !== 'speed') {
    log('quality (planted structure)');
    const rows = runQuality(
      { prefill: quick ? 1024 : 2048, decode: quick ? 16 : 64, kvHeads: 3, group: 2, headDim: 64, budgets: quick ? [128, 512] : [128, 256, 512, 1024], chunk: 256, seed: 16 },
      log,
    );
    report.quality = rows;
    process.stdout.write(`### Quality (planted structure; prefill ${quick ? 1024 : 2048} + ${quick ? 16 : 64} decode steps; Hq=6, Hkv=3, D=64)\n\n${qualityTable(rows)}\n\n`);
  }
  if (part !== 'quality') {
    const seen = values.seen !== undefined ? Number(values.seen) : quick ? 16384 : 131072;
    if (!Number.isInteger(seen) || seen < 8192) throw new Error(`--seen must be an integer ≥ 8192 (got ${values.seen})`);
    log(`speed (${seen} positions)`);
    const s = runSpeed({ seen, budget: 4096, blocks: 32, rounds: quick ? 8 : 20, heads: 32, kvHeads: 8, headDim: 128 }, log);
    report.speed = s;
    process.stdout.write(`### Decode speed (CPU, float32, B=1, Hq=32, Hkv=8, D=128; medians of interleaved rounds)\n\n${speedTable(s)}\n\n`);
  }
  (report.machine as { loadAvgEnd?: number[] }).loadAvgEnd = os.loadavg();
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
