#!/usr/bin/env node
/**
 * The `attnflow` command line (contract). Subcommands live in the `commands` map below; each is
 * a summary, a help text and a handler returning the exit code. `main(argv, io)` is the whole
 * program and never exits the process, so tests drive it directly; only when this file is run as
 * the bin is the exit code handed to the process.
 *
 * Exit codes: 0 success, 1 a failure while running, 2 bad usage or bad input (unknown command or
 * option, missing or malformed value, unparsable pattern). Errors are one line on stderr, never a
 * stack trace (set ATTNFLOW_DEBUG=1 to see one).
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { packageVersion } from './native/load.js';
import { toPattern } from './patterns/index.js';
import type { Pattern } from './patterns/pattern.js';
import { analyze } from './analysis/analyze.js';
import { formatAnalysis } from './analysis/format.js';
import { compareRow, formatComparisonMarkdown, formatComparisonText } from './analysis/compare.js';
import { expandStack, hasLayerPlaceholder, splitStack } from './analysis/layer-template.js';
import { renderMask, type RenderFormat } from './render/index.js';
import { renderCoverageChart } from './render/coverage.js';
import { BENCH_HELP, BENCH_SUMMARY } from './bench/help.js';

export { formatAnalysis } from './analysis/format.js';

/** Where the CLI writes; process.stdout / process.stderr by default. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** One subcommand. `run` receives the arguments after the subcommand's name. */
export interface Command {
  /** one line for `attnflow --help` */
  summary: string;
  /** the full text of `attnflow <cmd> --help` */
  help: string;
  run(args: string[], io: CliIO): Promise<number> | number;
}

/** Bad usage or input: reported as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** whether to point at --help after the message */
  readonly hint: boolean;
  constructor(message: string, hint = true) {
    super(message);
    this.hint = hint;
  }
}

/** the largest --n that `mask` prints as text (grid or bits) */
export const MAX_TEXT_N = 512;

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** parseArgs for one subcommand, with its errors turned into UsageErrors. */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(cmd: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${cmd}: ${oneLine((e as Error).message)}`);
  }
}

function parseCount(cmd: string, flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined) throw new UsageError(`${cmd}: --${flag} is required`);
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`${cmd}: --${flag} must be a non-negative integer, got '${v}'`);
  const n = Number(v.trim());
  if (n < min || n > max) throw new UsageError(`${cmd}: --${flag} must be in [${min}, ${max}], got ${v}`);
  return n;
}

function parseTile(cmd: string, v: string): { blockQ: number; blockK: number } {
  const m = /^\s*(\d+)\s*[x×,]\s*(\d+)\s*$/i.exec(v);
  if (!m) throw new UsageError(`${cmd}: --tile must look like 64x64, got '${v}'`);
  const blockQ = Number(m[1]);
  const blockK = Number(m[2]);
  if (blockQ < 1 || blockK < 1 || blockQ > 65536 || blockK > 65536) throw new UsageError(`${cmd}: --tile sides must be in [1, 65536], got '${v}'`);
  return { blockQ, blockK };
}

function parsePatternArg(cmd: string, positionals: string[]): Pattern {
  if (positionals.length === 0) throw new UsageError(`${cmd}: a pattern is required, e.g. attnflow ${cmd} "causal & sliding(8)" --n 16`);
  const text = positionals.join(' ');
  try {
    return toPattern(text);
  } catch (e) {
    // pattern errors may carry a caret display after their first line; keep the first line
    const first = String((e as Error).message ?? e).split('\n')[0].trim();
    throw new UsageError(`${cmd}: bad pattern '${text}': ${first}`, false);
  }
}

// ---------------------------------------------------------------------------------------------
// info

const infoCommand: Command = {
  summary: 'backends, devices and CPU features of this installation',
  help: `Usage: attnflow info [--json]

Reports the package version and which backends (reference, cpu, cuda) are available here,
with devices and CPU features, or why a backend is unavailable.

Options:
  --json      print the info object as JSON
  -h, --help  show this help`,
  async run(args, io) {
    const { values, positionals } = parse('info', args, { json: { type: 'boolean' } });
    if (positionals.length > 0) throw new UsageError(`info: unexpected argument '${positionals[0]}'`);
    const { info, formatInfo } = await import('./info.js');
    const i = info();
    io.stdout.write(values.json ? JSON.stringify(i, null, 2) + '\n' : withNewline(formatInfo(i)));
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// mask

const maskCommand: Command = {
  summary: 'draw a pattern: the ✔ grid, a 0/1 bit matrix, or SVG',
  help: `Usage: attnflow mask "<pattern>" --n N [--format grid|bits|svg] [--seq-q Q]

Draws which keys each query may read. Rows are queries, columns keys; with --seq-q the Q
queries are the last Q positions (bottom-right alignment).

Formats:
  grid   ✔ table with key indices on top and query indices on the left (default; N ≤ ${MAX_TEXT_N})
  bits   N lines of N characters, 1 = allowed, 0 = not (N ≤ ${MAX_TEXT_N})
  svg    a standalone SVG picture; long sequences are shaded per block

Options:
  --n N            number of keys (and queries, unless --seq-q)
  --format F       grid | bits | svg (default grid)
  --seq-q Q        number of queries (default N)
  --head H         head to draw, for perHead patterns (default 0)
  --tile QxK       svg: outline the tiles the mask compiler visits, e.g. 64x64
  -h, --help       show this help

Example:
  attnflow mask "causal & sliding(3) | sink(1)" --n 9`,
  run(args, io) {
    const { values, positionals } = parse('mask', args, {
      n: { type: 'string' },
      format: { type: 'string', short: 'f' },
      'seq-q': { type: 'string' },
      head: { type: 'string' },
      tile: { type: 'string' },
    });
    const format = (values.format ?? 'grid') as RenderFormat;
    if (format !== 'grid' && format !== 'bits' && format !== 'svg') {
      throw new UsageError(`mask: --format must be grid, bits or svg, got '${values.format}'`);
    }
    const maxN = format === 'svg' ? 1 << 20 : MAX_TEXT_N;
    const n = parseCount('mask', 'n', values.n, 1, format === 'svg' ? maxN : Number.MAX_SAFE_INTEGER);
    if (n > maxN) throw new UsageError(`mask: --n ${n} is too large for --format ${format} (at most ${maxN}; use --format svg)`);
    const seqQ = values['seq-q'] === undefined ? n : parseCount('mask', 'seq-q', values['seq-q'], 1, n);
    const head = values.head === undefined ? 0 : parseCount('mask', 'head', values.head, 0, 2 ** 31 - 1);
    const tile = values.tile === undefined ? undefined : parseTile('mask', values.tile);
    if (tile && format !== 'svg') throw new UsageError('mask: --tile applies to --format svg only');
    const pattern = parsePatternArg('mask', positionals);
    io.stdout.write(withNewline(renderMask(pattern, { seqK: n, seqQ, format, head, tile })));
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// analyze

/** The pattern text of an analysis: one pattern, or a layer stack written `p1; p2; …`. */
function parseStackArg(cmd: string, flag: string, text: string, separator: string, layers: number): string[] {
  let stack: string[];
  try {
    stack = expandStack(splitStack(text, separator), layers);
  } catch (e) {
    throw new UsageError(`${cmd}: ${flag}: ${(e as Error).message}`, false);
  }
  stack.forEach((p, k) => {
    try {
      toPattern(p);
    } catch (e) {
      const first = String((e as Error).message ?? e).split('\n')[0].trim();
      throw new UsageError(`${cmd}: bad pattern '${p}'${stack.length > 1 ? ` (layer pattern #${k})` : ''}: ${first}`, false);
    }
  });
  return stack;
}

const analyzeCommand: Command = {
  summary: 'information flow of a pattern or layer stack: neighborhoods, receptive fields, full depth; --compare for a table',
  help: `Usage: attnflow analyze "<pattern>" --n N --layers L [options]
       attnflow analyze --layer-patterns "p1; p2; …" --n N --layers L [options]
       attnflow analyze --compare "p1; p2; …" --n N --layers L [--format text|md] [--json] [--svg FILE]

Treats the pattern as an information-flow graph over N tokens (a token keeps its own information
from layer to layer) and reports its density, the neighborhood sizes |N(t)|, the receptive field
after each of L layers (of the last query, the smallest, and the worst coverage of a query's
prefix, |RF(t) ∩ [0, t]| / (t + 1)), the full depth (the first layer after which every token's
receptive field is its whole prefix), the saturation depth (after which no field grows any more),
and the tile efficiency of the compiled block mask (allowed pairs / elements computed in the tiles
the backend visits).

Layer stacks: --layer-patterns "p1; p2; …" uses p1 at layer 1, p2 at layer 2, …, cycled. The
placeholders {l} (the layer index, from 0), {l+N} and {N^l} give every layer its own pattern:
"random(8, {l})" redraws the random mask at every layer, "dilated(16, {16^l})" grows the
dilation 16-fold per layer. A pattern argument may hold placeholders too.

--compare "p1; p2; …" measures seed 001 §8.6's table: one row per pattern (a layer stack is
written with / between its layers, e.g. "sliding(64) / sliding(64) / causal"): neighborhood
size, FLOPs relative to causal, receptive-field growth per layer and its fitted shape (linear or
exponential), full depth, saturation depth and worst coverage after L layers.

Options:
  --n N                 sequence length
  --layers L            number of layers
  --layer-patterns S    a layer stack, patterns separated by ;
  --compare S           patterns (or stacks) to compare, separated by ;
  --format F            text | md (--compare; default text)
  --json                print the analysis (or the comparison) as JSON
  --svg FILE            --compare: write the chart of worst coverage against depth to FILE
  --tile QxK            tile shape for the efficiency (default: the tile the backend runs)
  --backend B           cpu | cuda: whose tile is the default (default cpu)
  --head H              head to analyze, for perHead patterns (default 0)
  --sample-queries K    for patterns too irregular for exact statistics over all queries at this
                        N: take the worst coverage, smallest field, full and saturation depth
                        over K evenly spaced queries (always including the last) instead of failing
  -h, --help            show this help

Examples:
  attnflow analyze "causal & sliding(256)" --n 65536 --layers 8
  attnflow analyze --layer-patterns "sliding(512); sliding(512); sliding(512); causal" --n 8192 --layers 8
  attnflow analyze --compare "causal; sliding(128); log; dilated(8, {8^l}); random(8, 1); random(8, {l})" --n 4096 --layers 64 --svg flow.svg`,
  run(args, io) {
    const { values, positionals } = parse('analyze', args, {
      n: { type: 'string' },
      layers: { type: 'string', short: 'l' },
      json: { type: 'boolean' },
      tile: { type: 'string' },
      head: { type: 'string' },
      backend: { type: 'string' },
      'layer-patterns': { type: 'string' },
      compare: { type: 'string' },
      format: { type: 'string', short: 'f' },
      svg: { type: 'string' },
      'sample-queries': { type: 'string' },
    });
    const n = parseCount('analyze', 'n', values.n, 1, 1 << 24);
    const layers = parseCount('analyze', 'layers', values.layers, 0, 1 << 24);
    const tile = values.tile === undefined ? undefined : parseTile('analyze', values.tile);
    const head = values.head === undefined ? 0 : parseCount('analyze', 'head', values.head, 0, 2 ** 31 - 1);
    const sampleQueries = values['sample-queries'] === undefined ? undefined : parseCount('analyze', 'sample-queries', values['sample-queries'], 1, 1 << 24);
    const backend = values.backend ?? 'cpu';
    if (backend !== 'cpu' && backend !== 'cuda') throw new UsageError(`analyze: --backend must be cpu or cuda, got '${backend}'`);
    const format = values.format ?? 'text';
    if (format !== 'text' && format !== 'md') throw new UsageError(`analyze: --format must be text or md, got '${values.format}'`);
    const sources = [positionals.length > 0, values['layer-patterns'] !== undefined, values.compare !== undefined].filter(Boolean).length;
    if (sources > 1) throw new UsageError('analyze: give one of a pattern, --layer-patterns or --compare');
    if (values.compare === undefined && (values.svg !== undefined || values.format !== undefined)) {
      throw new UsageError('analyze: --svg and --format apply to --compare');
    }
    const options = { seqLen: n, layers, tile, head, backend: backend as 'cpu' | 'cuda', sampleQueries };

    if (values.compare !== undefined) {
      const items = values.compare.split(';').map((x) => x.trim());
      if (items.some((x) => x === '')) throw new UsageError(`analyze: --compare: every pattern between ; must be non-empty, got '${values.compare}'`, false);
      const rows = items.map((item) => compareRow(item, parseStackArg('analyze', '--compare', item, '/', layers), options));
      const comparison = { seqLen: n, layers, rows };
      if (values.svg !== undefined) {
        const svg = renderCoverageChart(
          rows.map((r) => ({ label: r.label, coverage: r.analysis.receptiveField.minCoverage, fullDepth: r.analysis.fullDepth })),
          { seqLen: n, layers, title: `Information flow: worst prefix coverage, n = ${n.toLocaleString('en-US')}` },
        );
        writeFileSync(values.svg, svg + '\n');
      }
      const text = values.json
        ? JSON.stringify(comparison, null, 2)
        : format === 'md'
          ? formatComparisonMarkdown(comparison)
          : formatComparisonText(comparison);
      io.stdout.write(withNewline(text));
      return 0;
    }

    let stack: string[];
    if (values['layer-patterns'] !== undefined) stack = parseStackArg('analyze', '--layer-patterns', values['layer-patterns'], ';', layers);
    else if (positionals.length > 0 && hasLayerPlaceholder(positionals.join(' '))) stack = parseStackArg('analyze', 'pattern', positionals.join(' '), ';', layers);
    else stack = [parsePatternArg('analyze', positionals).toString()];
    const a = analyze(stack.length === 1 ? stack[0] : stack, options);
    io.stdout.write(values.json ? JSON.stringify(a, null, 2) + '\n' : withNewline(formatAnalysis(a)));
    return 0;
  },
};

// The benchmark (lib/bench/) is loaded only when asked for: it pulls in tinybench and, where the
// development harness and onnxruntime-node are there, ONNX Runtime.
const benchCommand: Command = {
  summary: BENCH_SUMMARY,
  help: BENCH_HELP,
  run: async (args, io) => (await import('./bench/cli.js')).benchCommand(args, io),
};

// ---------------------------------------------------------------------------------------------
// The dispatch table.

export const commands: Record<string, Command> = {
  info: infoCommand,
  mask: maskCommand,
  analyze: analyzeCommand,
  bench: benchCommand,
};

// ---------------------------------------------------------------------------------------------

function withNewline(s: string): string {
  return s.endsWith('\n') ? s : s + '\n';
}

function topHelp(): string {
  const names = Object.keys(commands);
  const w = Math.max(...names.map((n) => n.length));
  return `attnflow ${packageVersion} — attention kernels, patterns and their analysis

Usage: attnflow <command> [options]

Commands:
${names.map((n) => `  ${n.padEnd(w)}  ${commands[n].summary}`).join('\n')}

Options:
  -h, --help     show help (attnflow <command> --help for a command's options)
  -v, --version  print the version

Patterns are strings such as "causal & sliding(256) | sink(4)", "log", "longformer(128, 0)".`;
}

/**
 * Runs the CLI on argv (the arguments after the program name) and returns the exit code; never
 * exits the process.
 */
export async function main(argv: string[], io: CliIO = process): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined) {
      io.stderr.write(topHelp() + '\n');
      return 2;
    }
    if (first === '-h' || first === '--help') {
      io.stdout.write(topHelp() + '\n');
      return 0;
    }
    if (first === '-v' || first === '--version') {
      io.stdout.write(packageVersion + '\n');
      return 0;
    }
    if (first === 'help') {
      const cmd = rest[0];
      if (cmd === undefined) io.stdout.write(topHelp() + '\n');
      else if (Object.hasOwn(commands, cmd)) io.stdout.write(commands[cmd].help + '\n');
      else throw new UsageError(`unknown command '${cmd}'`);
      return 0;
    }
    if (!Object.hasOwn(commands, first)) {
      throw new UsageError(first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`);
    }
    const cmd = commands[first];
    if (rest.includes('-h') || rest.includes('--help')) {
      io.stdout.write(cmd.help + '\n');
      return 0;
    }
    return await cmd.run(rest, io);
  } catch (e) {
    const err = e as Error;
    if (process.env.ATTNFLOW_DEBUG) io.stderr.write(`${err?.stack ?? String(e)}\n`);
    if (e instanceof UsageError) {
      const help = first !== undefined && Object.hasOwn(commands, first) ? `attnflow ${first} --help` : 'attnflow --help';
      io.stderr.write(`attnflow: ${err.message}${e.hint ? ` (see ${help})` : ''}\n`);
      return 2;
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      // invalid values caught by the library's own validation
      io.stderr.write(`attnflow: ${oneLine(err.message)}\n`);
      return 2;
    }
    io.stderr.write(`attnflow: ${oneLine(err?.message ?? String(e))}\n`);
    return 1;
  }
}

function runningAsBin(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (runningAsBin()) {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0); // e.g. `attnflow mask ... | head`
    throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`attnflow: ${String((e as Error)?.message ?? e)}\n`);
      process.exitCode = 1;
    },
  );
}
