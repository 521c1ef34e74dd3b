/**
 * `attnflow bench`: flags → BenchConfig → runBench → DIR/bench.json, bench.md, bench.svg, where
 * DIR is --out or else a new folder under the system's temporary directory (printed; never the
 * user's working directory by surprise). Exit codes as the rest of the CLI: 0 done, 1 failure
 * while running, 2 bad usage.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DType } from '../dtypes.js';
import { cuda } from '../native/cuda.js';
import { isDTypeName, parseList } from './args.js';
import { BACKEND_IDS, isPeer, resolvePattern, type BackendId, type BenchConfig } from './config.js';
import { BENCH_HELP as BENCH_HELP_TEXT, DEFAULT_PATTERNS, QUICK_PATTERNS } from './help.js';
import { peerHarnessBuilt, type PeerLoader } from './peers.js';
import { writeReport } from './report.js';
import { runBench } from './runner.js';

export interface BenchIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
}

export { BENCH_HELP, BENCH_SUMMARY } from './help.js';

class BenchUsageError extends Error {}

/**
 * The backends a run measures when --backends is not given: 'cuda' only where a device is usable,
 * the ONNX Runtime peers only where their development harness is built (a clone of the repository).
 */
export function defaultBackends(): BackendId[] {
  const peers = peerHarnessBuilt();
  return BACKEND_IDS.filter((b) => (b === 'cuda' ? cuda.isAvailable() : isPeer(b) ? peers : true));
}

function int(flag: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\s*\d+\s*$/.test(v)) throw new BenchUsageError(`--${flag} must be a non-negative integer, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new BenchUsageError(`--${flag} must be in [${min}, ${max}], got ${n}`);
  return n;
}

function ints(flag: string, v: string | undefined, def: number[], min: number, max: number): number[] {
  if (v === undefined) return def;
  const items = parseList(v, ',');
  if (items.length === 0) throw new BenchUsageError(`--${flag} needs at least one value`);
  return items.map((s) => int(flag, s, 0, min, max));
}

/** Flags → BenchConfig (+ the output folder given, or null). Throws BenchUsageError on bad usage. */
export function parseBenchArgs(argv: string[]): { help: true } | { help: false; config: BenchConfig; outDir: string | null } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        quick: { type: 'boolean' },
        out: { type: 'string' },
        seq: { type: 'string' },
        patterns: { type: 'string' },
        backends: { type: 'string' },
        dtypes: { type: 'string' },
        'head-dim': { type: 'string' },
        heads: { type: 'string' },
        batch: { type: 'string' },
        time: { type: 'string' },
        iterations: { type: 'string' },
        'max-call-ms': { type: 'string' },
        budget: { type: 'string' },
        'reference-max-seq': { type: 'string' },
        threads: { type: 'string' },
        'memory-seq': { type: 'string' },
        'memory-pattern': { type: 'string' },
        'no-memory': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new BenchUsageError((e as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return { help: true };
  const quick = values.quick === true;

  const patterns = values.patterns !== undefined ? parseList(values.patterns, ';') : [...(quick ? QUICK_PATTERNS : DEFAULT_PATTERNS)];
  if (patterns.length === 0) throw new BenchUsageError('--patterns needs at least one pattern');
  for (const p of patterns) {
    try {
      resolvePattern(p);
    } catch (e) {
      throw new BenchUsageError(`--patterns: bad pattern '${p}': ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}`);
    }
  }

  const backends = values.backends !== undefined ? parseList(values.backends, ',') : defaultBackends();
  for (const b of backends) {
    if (!(BACKEND_IDS as readonly string[]).includes(b)) throw new BenchUsageError(`--backends: unknown backend '${b}' (expected ${BACKEND_IDS.join(', ')})`);
  }
  if (backends.length === 0) throw new BenchUsageError('--backends needs at least one backend');

  const dtypes = values.dtypes !== undefined ? parseList(values.dtypes, ',') : ['float32'];
  for (const d of dtypes) if (!isDTypeName(d)) throw new BenchUsageError(`--dtypes: unknown dtype '${d}' (expected float32, float16, bfloat16)`);
  if (dtypes.length === 0) throw new BenchUsageError('--dtypes needs at least one dtype');

  const heads = int('heads', values.heads, 8, 1, 4096);
  const memoryPattern = values['memory-pattern'] ?? 'causal & sliding(1024)';
  try {
    resolvePattern(memoryPattern);
  } catch (e) {
    throw new BenchUsageError(`--memory-pattern: bad pattern '${memoryPattern}': ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}`);
  }
  const memorySeq = int('memory-seq', values['memory-seq'], quick ? 16384 : 65536, 1, 1 << 22);
  const config: BenchConfig = {
    quick,
    seqs: [...new Set(ints('seq', values.seq, quick ? [512, 1024, 2048, 4096] : [512, 1024, 2048, 4096, 8192, 16384], 1, 1 << 22))].sort((a, b) => a - b),
    patterns: [...new Set(patterns)],
    backends: [...new Set(backends)] as BackendId[],
    dtypes: [...new Set(dtypes)] as DType[],
    headDims: [...new Set(ints('head-dim', values['head-dim'], quick ? [64] : [64, 128], 1, 1024))],
    heads,
    batch: int('batch', values.batch, 1, 1, 4096),
    timeMs: int('time', values.time, quick ? 100 : 200, 0, 3_600_000),
    minIterations: int('iterations', values.iterations, 2, 1, 1_000_000),
    maxCallMs: int('max-call-ms', values['max-call-ms'], quick ? 1200 : 1500, 1, 3_600_000),
    budgetS: int('budget', values.budget, quick ? 45 : 100, 1, 1_000_000),
    referenceMaxSeq: int('reference-max-seq', values['reference-max-seq'], 512, 1, 1 << 22),
    ...(values.threads !== undefined ? { threads: int('threads', values.threads, 0, 1, 1024) } : {}),
    memory: values['no-memory'] ? null : { seq: memorySeq, pattern: memoryPattern, heads, headDim: 64 },
  };
  return { help: false, config, outDir: values.out === undefined ? null : resolve(values.out) };
}

export interface BenchEnv {
  /** finds the peers' harness (default: the compiled bench/peers.ts of a development checkout) */
  peers?: PeerLoader;
}

/** The `attnflow bench` subcommand. Never throws; returns the exit code. */
export async function benchCommand(argv: string[], io: BenchIO, env: BenchEnv = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseBenchArgs(argv);
  } catch (e) {
    if (e instanceof BenchUsageError) {
      io.stderr.write(`attnflow bench: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`attnflow bench: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    return 1;
  }
  if (parsed.help) {
    io.stdout.write(BENCH_HELP_TEXT + '\n');
    return 0;
  }
  try {
    const report = await runBench(parsed.config, { stderr: io.stderr, peers: env.peers });
    const dir = parsed.outDir ?? mkdtempSync(join(tmpdir(), 'attnflow-bench-'));
    const files = writeReport(report, dir);
    if (parsed.outDir === null) io.stderr.write(`attnflow bench: results in ${dir} (choose the folder with --out DIR)\n`);
    io.stdout.write(`${files.json}\n${files.md}\n${files.svg}\n`);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    io.stderr.write(`attnflow bench: ${msg}\n`);
    if (process.env.ATTNFLOW_DEBUG && e instanceof Error) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
