/**
 * Peak-memory probe, run as its own process (see memory.ts) so that nothing else the benchmark
 * allocated counts. argv[2] is a JSON MemoryProbeSpec; the last line of stdout is a JSON
 * MemoryProbeResult.
 *
 * Sequence: load attnflow (and the native addon), run one tiny attention call so that worker
 * threads and code are warm, read the baseline RSS, allocate q, k, v and out (filled in place,
 * no temporaries), run the attention call once, then read the high-water mark (VmHWM on Linux,
 * getrusage maxRSS elsewhere).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { attention } from '../attention/run.js';
import type { DType } from '../dtypes.js';
import { info } from '../info.js';
import { Tensor } from '../tensor.js';

export interface MemoryProbeSpec {
  seq: number;
  heads: number;
  headDim: number;
  batch: number;
  pattern: string;
  dtype: DType;
  backend: 'cpu' | 'reference';
}

export interface MemoryProbeResult {
  spec: MemoryProbeSpec;
  /** bytes of q, k, v and out */
  tensorBytes: number;
  /** RSS before the tensors were allocated (after a warm-up call) */
  baselineRss: number;
  /** RSS right after the tensors were allocated and filled */
  rssWithTensors: number;
  /** peak RSS of the process (VmHWM) after the call */
  peakRss: number;
  /** how peakRss was read */
  peakSource: 'VmHWM' | 'maxRSS';
  /** peakRss − tensorBytes: everything but the tensors, Node itself included */
  peakMinusTensors: number;
  /** peakRss − baselineRss − tensorBytes: what the attention call added beyond its operands */
  attentionOverhead: number;
  /** process.memoryUsage() after the call */
  memoryUsage: NodeJS.MemoryUsage;
  /** wall time of the measured call, ms */
  callMs: number;
}

function statusKb(field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function rss(): number {
  return statusKb('VmRSS') ?? process.memoryUsage.rss();
}

function peak(): { bytes: number; source: 'VmHWM' | 'maxRSS' } {
  const hwm = statusKb('VmHWM');
  if (hwm !== null) return { bytes: hwm, source: 'VmHWM' };
  return { bytes: process.resourceUsage().maxRSS * 1024, source: 'maxRSS' };
}

/** Fills a tensor's storage in place with values in [-1, 1) (16-bit dtypes: their bit patterns). */
function fill(t: Tensor, seed: number): void {
  const data = t.data;
  let s = (seed * 2654435761) >>> 0;
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = s / 2147483648 - 1;
    }
  } else {
    // float16 / bfloat16 bits of values in ±[2^-4, 1): sign, exponent in range, random mantissa
    const bf = t.dtype === 'bfloat16';
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const sign = (s >>> 31) << 15;
      data[i] = bf ? sign | ((123 + ((s >>> 28) & 3)) << 7) | ((s >>> 8) & 0x7f) : sign | ((11 + ((s >>> 28) & 3)) << 10) | ((s >>> 8) & 0x3ff);
    }
  }
}

export async function probe(spec: MemoryProbeSpec): Promise<MemoryProbeResult> {
  info();
  {
    const shape = [1, 1, 256, spec.headDim];
    const w = Tensor.randn(shape, { seed: 1, dtype: spec.dtype });
    await attention(w, w, w, { pattern: spec.pattern, backend: spec.backend });
  }
  globalThis.gc?.();
  const baselineRss = rss();
  const shape = [spec.batch, spec.heads, spec.seq, spec.headDim];
  const q = Tensor.zeros(shape, { dtype: spec.dtype });
  const k = Tensor.zeros(shape, { dtype: spec.dtype });
  const v = Tensor.zeros(shape, { dtype: spec.dtype });
  const out = Tensor.zeros(shape, { dtype: spec.dtype });
  fill(q, 1);
  fill(k, 2);
  fill(v, 3);
  fill(out, 4); // touch every page of the output too
  const tensorBytes = q.data.byteLength + k.data.byteLength + v.data.byteLength + out.data.byteLength;
  const rssWithTensors = rss();
  const t0 = performance.now();
  await attention(q, k, v, { pattern: spec.pattern, backend: spec.backend, out });
  const callMs = performance.now() - t0;
  const p = peak();
  return {
    spec,
    tensorBytes,
    baselineRss,
    rssWithTensors,
    peakRss: p.bytes,
    peakSource: p.source,
    peakMinusTensors: p.bytes - tensorBytes,
    attentionOverhead: p.bytes - baselineRss - tensorBytes,
    memoryUsage: process.memoryUsage(),
    callMs,
  };
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain() && process.argv[2]) {
  probe(JSON.parse(process.argv[2]) as MemoryProbeSpec).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
    },
    (e: unknown) => {
      process.stdout.write(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) + '\n');
      process.exitCode = 1;
    },
  );
}
