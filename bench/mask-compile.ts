/**
 * Mask compilation speed: the goals at seqLen 131072 with 128×64 tiles
 * (`causal & sliding(4096) | sink(4)` < 50 ms, `dsa(1024, 64, 0)` < 200 ms), and a sweep over
 * seqLen showing that compile time follows the number of visited tiles, not seqLen².
 *
 * Usage: node dist-bench/bench/mask-compile.js [--json FILE]
 * Prints Markdown tables on stdout.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clearMaskCache, compileMask } from '../lib/mask/index.js';
import { timeTask } from '../lib/bench/runner.js';

interface Row {
  pattern: string;
  seqLen: number;
  tiles: number;
  partial: number;
  medianMs: number;
  nsPerTile: number;
}

const TILE = { blockQ: 128, blockK: 64 };

async function measure(pattern: string, seqLen: number): Promise<Row> {
  const opts = { seqQ: seqLen, seqK: seqLen, ...TILE };
  // The cache would turn every iteration after the first into a lookup.
  const t = await timeTask(pattern, () => {
    clearMaskCache();
    compileMask(pattern, opts);
  }, 400, 5);
  const mask = compileMask(pattern, opts);
  let partial = 0;
  for (const p of mask.partial) if (p >= 0) partial++;
  const medianMs = t.median;
  return { pattern, seqLen, tiles: mask.colIdx.length, partial, medianMs, nsPerTile: (medianMs * 1e6) / mask.colIdx.length };
}

function table(rows: Row[]): string {
  const head = '| pattern | seqLen | visited tiles | partial | median ms | ns / tile |\n|---|---:|---:|---:|---:|---:|';
  const body = rows.map((r) => `| \`${r.pattern.replace(/\|/g, "\\|")}\` | ${r.seqLen} | ${r.tiles} | ${r.partial} | ${r.medianMs.toFixed(2)} | ${r.nsPerTile.toFixed(0)} |`);
  return [head, ...body].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'string' } } });
  const goals: Row[] = [];
  for (const p of ['causal & sliding(4096) | sink(4)', 'dsa(1024, 64, 0)']) goals.push(await measure(p, 131072));
  const sweep: Row[] = [];
  for (const p of ['causal & sliding(1024) | sink(4)', 'causal']) {
    for (const n of [8192, 16384, 32768, 65536, 131072]) {
      process.stderr.write(`mask-compile: ${p} at ${n}\n`);
      sweep.push(await measure(p, n));
    }
  }
  process.stdout.write(`Goals (128×64 tiles; goal: < 50 ms and < 200 ms)\n\n${table(goals)}\n\nSweep\n\n${table(sweep)}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ tile: TILE, goals, sweep }, null, 2));
}

await main();
