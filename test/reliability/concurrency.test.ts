/**
 * Concurrency and resource use: 200 asynchronous attention calls in flight at once, valid ones
 * mixed with failing ones, all settle; every result is bit-for-bit the result of the same call
 * made alone (nothing depends on what else is in flight); failing calls reject with clear errors;
 * the same with aborts mixed in (before the call, while calls run or wait, one signal shared by
 * many); and the resident set stays bounded over many rounds of calls.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { attention, attentionSync, type AttentionWithLse } from '../../lib/attention/run.js';
import { clearMaskCache } from '../../lib/mask/index.js';
import { loadNative } from '../../lib/native/load.js';
import type { NativeAttentionArgs } from '../../lib/native/bindings.js';
import { Tensor } from '../../lib/tensor.js';
import type { AttentionOptions } from '../../lib/attention/plan.js';
import { asResult, wrongAnswer } from './check.js';
import { failureReport, Gen, rssMiB, suiteSeed, unclear } from './fuzz.js';
import { problem, type Problem } from './gen.js';

const SEED = suiteSeed(0xc0c0);

function bits(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

function sameBits(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A call that must fail, of one of several kinds (the TypeScript checks or the native backend's). */
function failing(g: Gen, p: Problem): { run: () => Promise<unknown>; what: string } {
  const kind = g.int(0, 6);
  const o = { ...p.options, returnLse: false };
  switch (kind) {
    case 0: return { what: 'scale NaN', run: () => attention(p.q, p.k, p.v, { ...o, scale: NaN }) };
    case 1: return { what: 'bad pattern', run: () => attention(p.q, p.k, p.v, { ...o, pattern: 'causal & (' }) };
    case 2: {
      const t = Tensor.zeros(p.q.shape, { dtype: p.q.dtype, layout: p.q.layout });
      t.dispose();
      return { what: 'disposed q', run: () => attention(t, p.k, p.v, o) };
    }
    case 3: return { what: 'cuda backend', run: () => attention(p.q, p.k, p.v, { ...o, backend: 'cuda' }) };
    case 4: return { what: 'k with wrong headDim', run: () => attention(p.q, Tensor.zeros([...p.k.shape.slice(0, 3), p.k.shape[3] + 1], { dtype: p.k.dtype, layout: p.k.layout }), p.v, o) };
    case 5: return { what: 'unknown option', run: () => attention(p.q, p.k, p.v, { ...o, dropout: 0.1 } as AttentionOptions) };
    default: return { what: 'alibi of the wrong length', run: () => attention(p.q, p.k, p.v, { ...o, alibi: new Float32Array(p.q.dims4().heads + 3) }) };
  }
}

describe('concurrency', () => {
  it('200 concurrent calls, valid and failing mixed, all settle with results independent of what else is in flight', async () => {
    const g = new Gen(SEED);
    const failures: string[] = [];
    interface Job {
      what: string;
      run: () => Promise<unknown>;
      expect: { out: Uint8Array; lse: Uint8Array | null } | 'reject';
      returnLse: boolean;
    }
    const jobs: Job[] = [];
    for (let c = 0; c < 200; c++) {
      // a few larger problems keep several calls genuinely in flight on the thread pool
      const big = c % 25 === 0;
      const p = big ? bigProblem(g) : problem(g, 90);
      if (g.bool(0.3)) {
        const f = failing(g, p);
        jobs.push({ what: `call ${c}: ${f.what} (${p.desc})`, run: f.run, expect: 'reject', returnLse: false });
        continue;
      }
      const backend = g.bool(0.85) ? 'cpu' : 'reference';
      const options: AttentionOptions = { ...p.options, backend, returnLse: true };
      // the same call made alone, first
      const alone = attentionSync(p.q, p.k, p.v, options) as AttentionWithLse;
      const why = wrongAnswer(p.q, p.k, p.v, options, alone);
      if (why) failures.push(`call ${c} alone (${p.desc}): ${why}`);
      const withOut = g.bool(0.3);
      jobs.push({
        what: `call ${c}: ${backend}${withOut ? ' out' : ''} (${p.desc})`,
        run: () => attention(p.q, p.k, p.v, withOut ? { ...options, out: Tensor.zeros(p.q.shape, { dtype: p.q.dtype, layout: options.layout ?? p.q.layout }) } : options),
        expect: { out: bits(alone.out), lse: bits(alone.lse) },
        returnLse: true,
      });
    }
    const settled = await Promise.allSettled(jobs.map((j) => j.run()));
    settled.forEach((s, i) => {
      const j = jobs[i];
      if (j.expect === 'reject') {
        if (s.status === 'fulfilled') failures.push(`${j.what}: resolved, expected a rejection`);
        else {
          const why = unclear(s.reason);
          if (why) failures.push(`${j.what}: ${why}`);
        }
        return;
      }
      if (s.status === 'rejected') {
        failures.push(`${j.what}: rejected: ${(s.reason as Error)?.message}`);
        return;
      }
      const r = asResult(s.value, j.returnLse);
      if (typeof r === 'string') {
        failures.push(`${j.what}: ${r}`);
        return;
      }
      if (!sameBits(bits(r.out), j.expect.out) || !sameBits(bits(r.lse!), j.expect.lse!)) failures.push(`${j.what}: differs from the same call made alone`);
    });
    expect(failures, failureReport(failures, SEED)).toEqual([]);
    expect(jobs.filter((j) => j.expect === 'reject').length).toBeGreaterThan(30);
  }, 60_000);

  it('200 concurrent calls with aborts mixed in: the others are bit for bit what they are alone, aborted ones reject with AbortError or finish whole', async () => {
    const g = new Gen(SEED + 2);
    const failures: string[] = [];
    type Kind = 'none' | 'before' | 'at once' | 'later in the loop' | 'timer' | 'shared';
    interface Made {
      c: number;
      p: Problem;
      options: AttentionOptions;
      alone: AttentionWithLse;
      kind: Kind;
      controller: AbortController | null;
      withOut: boolean;
    }
    const made: Made[] = [];
    const shared = new AbortController();
    for (let c = 0; c < 200; c++) {
      const p = c % 20 === 0 ? bigProblem(g) : problem(g, 90);
      const options: AttentionOptions = { ...p.options, backend: 'cpu', returnLse: true };
      const alone = attentionSync(p.q, p.k, p.v, options) as AttentionWithLse;
      const kind = g.pick(['none', 'none', 'none', 'before', 'at once', 'later in the loop', 'timer', 'shared'] as const);
      const controller = kind === 'shared' ? shared : kind === 'none' ? null : new AbortController();
      if (kind === 'before') controller!.abort();
      made.push({ c, p, options, alone, kind, controller, withOut: g.bool(0.3) });
    }
    // Every call in flight at once, queued behind a long one (≈ 1 s on 2 cores), so that aborts
    // meet calls waiting in the queue, running, or finished but not yet settled.
    const plug = Tensor.randn([1, 8, 4096, 64], { seed: SEED });
    const plugCall = attention(plug, plug, plug);
    const laterInLoop = new Map<number, AbortController[]>();
    const promises = made.map((m, i) => {
      const out = m.withOut ? { out: Tensor.zeros(m.p.q.shape, { dtype: m.p.q.dtype, layout: m.options.layout ?? m.p.q.layout }) } : {};
      const promise = attention(m.p.q, m.p.k, m.p.v, { ...m.options, ...out, signal: m.controller?.signal });
      if (m.kind === 'at once') m.controller!.abort();
      if (m.kind === 'later in the loop') {
        const at = i + g.int(1, 30);
        laterInLoop.set(at, [...(laterInLoop.get(at) ?? []), m.controller!]);
      }
      for (const c of laterInLoop.get(i) ?? []) c.abort();
      return promise;
    });
    for (const cs of laterInLoop.values()) for (const c of cs) c.abort();
    const timers = made
      .filter((m) => m.kind === 'timer')
      .map((m) => ({ c: m.controller!, ms: g.int(0, 1500) }))
      .concat([{ c: shared, ms: 20 }])
      .map(({ c, ms }) => new Promise((resolve) => setTimeout(() => resolve(c.abort()), ms)));
    const settled = await Promise.allSettled(promises);
    await Promise.all(timers);
    await plugCall;
    const count: Record<string, number> = {};
    settled.forEach((s, i) => {
      const m = made[i];
      const what = `call ${m.c}: abort ${m.kind}${m.withOut ? ', out' : ''} (${m.p.desc})`;
      const tally = `${m.kind}: ${s.status}`;
      count[tally] = (count[tally] ?? 0) + 1;
      if (s.status === 'rejected') {
        const e = s.reason as { name?: string; message?: string };
        if (m.kind === 'none' || !(e instanceof DOMException && e.name === 'AbortError')) failures.push(`${what}: rejected: ${e?.name}: ${e?.message}`);
        return;
      }
      if (m.kind === 'before' || m.kind === 'at once') failures.push(`${what}: resolved, but it was aborted while it waited`);
      // a call that finished before its abort took effect is whole
      const r = asResult(s.value, true);
      if (typeof r === 'string') failures.push(`${what}: ${r}`);
      else if (!sameBits(bits(r.out), bits(m.alone.out)) || !sameBits(bits(r.lse!), bits(m.alone.lse))) failures.push(`${what}: differs from the same call made alone`);
    });
    console.log(`outcomes: ${JSON.stringify(count)}`);
    expect(failures, failureReport(failures, SEED + 2)).toEqual([]);
    expect(count['none: fulfilled'] ?? 0).toBeGreaterThan(50);
    expect(count['later in the loop: rejected'] ?? 0, 'calls aborted while they waited in the queue').toBeGreaterThan(0);
  }, 60_000);

  it('the resident set stays bounded over many rounds of calls (valid and failing, through the API and the binding)', async () => {
    const g = new Gen(SEED + 1);
    const gc = exposeGc();
    const addon = loadNative();
    const rounds = 40;
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const calls: Promise<unknown>[] = [];
      for (let c = 0; c < 16; c++) {
        const p = c % 6 === 0 ? bigProblem(g) : problem(g, 64);
        calls.push(attention(p.q, p.k, p.v, { ...p.options, backend: 'cpu' }));
        calls.push(failing(g, p).run());
        if (c % 4 === 0) {
          try {
            attentionSync(p.q, p.k, p.v, { ...p.options, rope: { dims: 1 } });
          } catch {
            // expected
          }
        }
      }
      const s = await Promise.allSettled(calls);
      const bad = s.filter((x, i) => (i % 2 === 0) !== (x.status === 'fulfilled'));
      expect(bad.length, `round ${r}: ${bad.length} calls settled the wrong way`).toBe(0);
      // Calls the binding rejects only after taking hold of every array (a corrupt mask): fresh
      // 4 MiB arrays each time, so that arrays kept alive by a failed call would show at once.
      for (let c = 0; c < 4; c++) {
        const args = nativeArgsWithBadMask(1 << 20);
        expect(() => addon.attentionSync(args)).toThrow(/mask/);
        await expect(Promise.resolve().then(() => addon.attention(nativeArgsWithBadMask(1 << 20)))).rejects.toThrow(/mask/);
      }
      // compiled masks are cached by design (up to 64 masks / 256 MiB, lib/mask/compile.ts): drop
      // them so that only memory nothing should hold on to is measured
      clearMaskCache();
      gc?.();
      samples.push(rssMiB());
    }
    console.log(`RSS after each round (MiB${gc ? ', after a full GC' : ''}): ${samples.map((x) => x.toFixed(0)).join(' ')}`);
    // after warm-up, memory must not keep growing with the number of calls made (a failed call
    // that kept its arrays alive would add 32 MiB a round)
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    const warm = median(samples.slice(0, 15));
    const late = median(samples.slice(-15));
    expect(late - warm, `RSS by round (MiB): ${samples.map((x) => x.toFixed(0)).join(' ')}`).toBeLessThan(gc ? 80 : 150);
  }, 60_000);
});

/** global.gc, through V8's flag (the test runner does not pass --expose-gc); null if refused. */
function exposeGc(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/** A native argument object over n-element float32 views whose mask's rowPtr does not end at nnz. */
function nativeArgsWithBadMask(n: number): NativeAttentionArgs {
  const D = 64;
  const S = n / D;
  const view = () => ({ data: new Float32Array(n), dtype: 0 as const, shape: [1, 1, S, D] as [number, number, number, number], strides: [S * D, S * D, D, 1] as [number, number, number, number], offset: 0 });
  const nq = Math.ceil(S / 64);
  const nk = Math.ceil(S / 64);
  const rowPtr = new Int32Array(nq + 1).fill(1);
  rowPtr[0] = 0;
  rowPtr[nq] = 2; // past nnz = 1
  return {
    q: view(),
    k: view(),
    v: view(),
    out: view(),
    lse: new Float32Array(S),
    mask: { seqQ: S, seqK: S, blockQ: 64, blockK: 64, numQBlocks: nq, numKBlocks: nk, heads: 1, wordsPerRow: 2, rowPtr, colIdx: new Int32Array(1), partial: new Int32Array(1).fill(-1), bits: new Uint32Array(0) },
    scale: 0.125,
    softcap: 0,
    alibi: null,
    rope: null,
  };
}

/** A larger float32 problem (several key tiles, many heads) so that calls overlap in time. */
function bigProblem(g: Gen): Problem {
  const [B, H, S, D] = [1, g.pick([4, 8]), g.pick([192, 256]), 64];
  const q = Tensor.randn([B, H, S, D], { seed: g.int(0, 1e6) });
  const k = Tensor.randn([B, H, S, D], { seed: g.int(0, 1e6) });
  const v = Tensor.randn([B, H, S, D], { seed: g.int(0, 1e6) });
  const options: AttentionOptions = { pattern: g.pick(['causal', 'full', 'causal & sliding(100) | sink(4)', 'docs(100, 60, 96)']) };
  return { q, k, v, options, desc: `float32 bhsd [${B}, ${H}, ${S}, ${D}] ${options.pattern}` };
}

