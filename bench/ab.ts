/**
 * A/B of two builds of attnflow in one process: both packages are imported (their addons are two
 * files, so they load side by side), and every round calls each build once per case, alternating
 * which goes first. On a shared machine whose speed drifts by ±10 % within a minute, the ratio of
 * two calls made back to back is far steadier than either time: the report is the median of those
 * paired ratios, with their quartiles, plus each build's best CPU time (process.cpuUsage, so
 * waiting for the machine counts less than with wall time).
 *
 * Usage: node dist-bench/bench/ab.js A/dist/index.js B/dist/index.js [--rounds N] [--cases a,b]
 *   A, B      the two builds' entry modules (a worktree's dist/index.js, with its addon built)
 *   --rounds  paired rounds (default 21)
 *   --cases   a subset of: dense, sliding, causal, dense-f16, dense-bf16, decode, linear
 * Set ATTNFLOW_CPU_ISA / ATTNFLOW_CPU_THREADS for both builds alike. Prints Markdown on stdout.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

type Build = typeof import('../lib/index.js');
type DType = 'float32' | 'float16' | 'bfloat16';

interface CaseDef {
  kind: 'attention' | 'linear';
  n: number;
  pattern: string;
  dtype: DType;
  heads: number;
  kvHeads: number;
  headDim: number;
  seqQ: number;
}

const CASES: Record<string, CaseDef> = {
  dense: { kind: 'attention', n: 4096, pattern: 'full', dtype: 'float32', heads: 8, kvHeads: 8, headDim: 64, seqQ: 4096 },
  sliding: { kind: 'attention', n: 16384, pattern: 'causal & sliding(256)', dtype: 'float32', heads: 8, kvHeads: 8, headDim: 64, seqQ: 16384 },
  causal: { kind: 'attention', n: 4096, pattern: 'causal', dtype: 'float32', heads: 8, kvHeads: 8, headDim: 64, seqQ: 4096 },
  'dense-f16': { kind: 'attention', n: 4096, pattern: 'full', dtype: 'float16', heads: 8, kvHeads: 8, headDim: 64, seqQ: 4096 },
  'dense-bf16': { kind: 'attention', n: 4096, pattern: 'full', dtype: 'bfloat16', heads: 8, kvHeads: 8, headDim: 64, seqQ: 4096 },
  decode: { kind: 'attention', n: 8192, pattern: 'causal', dtype: 'float32', heads: 32, kvHeads: 8, headDim: 128, seqQ: 1 },
  linear: { kind: 'linear', n: 16384, pattern: '', dtype: 'float32', heads: 8, kvHeads: 8, headDim: 64, seqQ: 16384 },
};

/** One call of case `c` on build `m`, inputs made once (seeded alike for both builds). */
function prepare(m: Build, c: CaseDef): () => Promise<unknown> {
  const opts = { dtype: c.dtype };
  const q = m.Tensor.randn([1, c.heads, c.seqQ, c.headDim], { ...opts, seed: 1 });
  const k = m.Tensor.randn([1, c.kvHeads, c.n, c.headDim], { ...opts, seed: 2 });
  const v = m.Tensor.randn([1, c.kvHeads, c.n, c.headDim], { ...opts, seed: 3 });
  if (c.kind === 'linear') {
    const decay = Float32Array.from({ length: c.heads }, (_, h) => 1 - 2 ** (-5 - h));
    return () => m.linearAttention(q, k, v, { backend: 'cpu', decay });
  }
  const out = m.Tensor.zeros([1, c.heads, c.seqQ, c.headDim], opts);
  const pattern = m.parsePattern(c.pattern);
  return () => m.attention(q, k, v, { pattern, backend: 'cpu', out });
}

async function cpuMs(run: () => Promise<unknown>): Promise<number> {
  const t0 = process.cpuUsage();
  await run();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000;
}

function quantile(sorted: number[], f: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))];
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { rounds: { type: 'string' }, cases: { type: 'string' } },
  });
  if (positionals.length !== 2) throw new Error('usage: ab.js A/dist/index.js B/dist/index.js [--rounds N] [--cases a,b]');
  const rounds = Number(values.rounds ?? 21);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  const names = values.cases ? values.cases.split(',') : Object.keys(CASES);
  for (const n of names) if (!(n in CASES)) throw new Error(`unknown case '${n}' (cases: ${Object.keys(CASES).join(', ')})`);
  const builds: Build[] = await Promise.all(positionals.map((p) => import(pathToFileURL(resolve(p)).href) as Promise<Build>));

  console.log(`# A/B: A = ${positionals[0]}, B = ${positionals[1]}\n`);
  console.log(`${rounds} paired rounds; kernel ${builds[0].info().backends.cpu.kernel} / ${builds[1].info().backends.cpu.kernel}\n`);
  console.log('| case | A best | B best | B/A paired median | quartiles |');
  console.log('| --- | ---: | ---: | ---: | --- |');
  for (const name of names) {
    const runs = builds.map((m) => prepare(m, CASES[name]));
    for (const r of runs) await r();
    const times: number[][] = [[], []];
    for (let i = 0; i < rounds; ++i)
      for (const w of i % 2 ? [1, 0] : [0, 1]) times[w].push(await cpuMs(runs[w]));
    const ratios = times[0].map((a, i) => times[1][i] / a).sort((x, y) => x - y);
    const best = times.map((t) => Math.min(...t).toFixed(1));
    console.log(`| ${name} | ${best[0]} ms | ${best[1]} ms | ${quantile(ratios, 0.5).toFixed(3)} | ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)} |`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`ab: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
