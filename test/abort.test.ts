/**
 * Cancellation of the async functions (options.signal, lib/abort.ts; native/binding/worker.h):
 * validation, an already-aborted signal, aborting running and queued calls (the native work stops
 * early: outputs stay partly unwritten, and the call settles before an identical one after it),
 * one signal shared by many calls, the synchronous variants, and the native cancel tokens.
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionSync, linearAttention, linearAttentionSync, Tensor } from '../lib/index.js';
import { toDeviceAsync } from '../lib/backends/cuda.js';
import { loadNative } from '../lib/native/load.js';

function isAbortError(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** How a promise settled, and in which order among the promises given the same `order` array. */
function track<T>(p: Promise<T>, name: string, order: string[]): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => {
      order.push(name);
      return { ok: true as const, value };
    },
    (error: unknown) => {
      order.push(name);
      return { ok: false as const, error };
    },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function nanTensor(shape: number[]): Tensor {
  return Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(NaN), shape);
}

/** Polls until some row of `out` ([.., D] rows) has been written (is no longer NaN). */
async function firstRowWritten(out: Float32Array, D: number, settled: () => boolean): Promise<void> {
  for (;;) {
    for (let i = 0; i < out.length; i += D) if (!Number.isNaN(out[i])) return;
    if (settled()) return;
    await sleep(1);
  }
}

function unwrittenRows(out: Float32Array, D: number): number {
  let n = 0;
  for (let i = 0; i < out.length; i += D) if (Number.isNaN(out[i])) n++;
  return n;
}

describe('options.signal', () => {
  const q = Tensor.randn([1, 2, 80, 16], { seed: 1 });
  const k = Tensor.randn([1, 2, 80, 16], { seed: 2 });
  const v = Tensor.randn([1, 2, 80, 16], { seed: 3 });

  it('must be an AbortSignal: a TypeError naming options.signal', async () => {
    for (const bad of [5, {}, null, 'abort', { aborted: false }]) {
      await expect(attention(q, k, v, { signal: bad as unknown as AbortSignal })).rejects.toThrow(TypeError);
      await expect(attention(q, k, v, { signal: bad as unknown as AbortSignal })).rejects.toThrow(/options\.signal must be an AbortSignal/);
      await expect(linearAttention(q, k, v, { signal: bad as unknown as AbortSignal })).rejects.toThrow(/options\.signal must be an AbortSignal/);
    }
  });

  it('is not an option of the synchronous variants', () => {
    const signal = new AbortController().signal;
    const opts = { signal } as unknown as Parameters<typeof attentionSync>[3];
    expect(() => attentionSync(q, k, v, opts)).toThrow(TypeError);
    expect(() => attentionSync(q, k, v, opts)).toThrow(/options\.signal is not an option of the synchronous functions/);
    expect(() => linearAttentionSync(q, k, v, opts as Parameters<typeof linearAttentionSync>[3])).toThrow(/options\.signal is not an option of the synchronous functions/);
  });

  it('already aborted: rejects at once with a DOMException named AbortError (cause: the reason), before any native work', async () => {
    for (const backend of ['cpu', 'reference'] as const) {
      const out = nanTensor(q.shape as number[]);
      const reason = new Error(`stop ${backend}`);
      const e = await attention(q, k, v, { backend, out, signal: AbortSignal.abort(reason) }).catch((x: unknown) => x);
      expect(isAbortError(e), String(e)).toBe(true);
      expect((e as DOMException & { cause?: unknown }).cause).toBe(reason);
      expect(unwrittenRows(out.data as Float32Array, 16), 'rows written').toBe(2 * 80);
      const l = await linearAttention(q, k, v, { backend, signal: AbortSignal.abort() }).catch((x: unknown) => x);
      expect(isAbortError(l), String(l)).toBe(true);
    }
    // the device copies too (checked before the device is touched)
    const c = await toDeviceAsync(q, 'cuda:0', AbortSignal.abort()).catch((x: unknown) => x);
    expect(isAbortError(c), String(c)).toBe(true);
  });

  it('a signal that never aborts changes nothing', async () => {
    const signal = new AbortController().signal;
    for (const backend of ['cpu', 'reference'] as const) {
      const want = attentionSync(q, k, v, { causal: true, backend }).data;
      const got = await attention(q, k, v, { causal: true, backend, signal });
      expect(Array.from(got.data)).toEqual(Array.from(want));
    }
    const lin = await linearAttention(q, k, v, { signal });
    expect(Array.from(lin.data)).toEqual(Array.from(linearAttentionSync(q, k, v).data));
  });

  it('aborting a running attention call stops its native work early and rejects with AbortError', async () => {
    const shape = [1, 8, 8192, 64];
    const [bq, bk, bv] = [1, 2, 3].map((seed) => Tensor.randn(shape, { seed: 10 + seed }));
    const out = nanTensor(shape);
    const controller = new AbortController();
    const order: string[] = [];
    const aborted = track(attention(bq, bk, bv, { out, signal: controller.signal }), 'aborted', order);
    // an identical call queued after it, not aborted by this controller
    const beside = new AbortController();
    const other = track(attention(bq, bk, bv, { signal: beside.signal }), 'other', order);
    await firstRowWritten(out.data as Float32Array, 64, () => order.includes('aborted'));
    controller.abort();
    const r = await aborted;
    expect(r.ok, 'the aborted call resolved').toBe(false);
    expect(isAbortError((r as { error: unknown }).error), String((r as { error: unknown }).error)).toBe(true);
    expect(order[0], 'the aborted call settled first').toBe('aborted');
    // when the promise rejects, the native work has stopped: out is left partly written, for good
    const left = unwrittenRows(out.data as Float32Array, 64);
    expect(left, 'rows never written').toBeGreaterThan(0);
    await sleep(50);
    expect(unwrittenRows(out.data as Float32Array, 64)).toBe(left);
    beside.abort();
    await other;
    // and the backend is in a fit state for the next call
    const want = attentionSync(q, k, v, { pattern: 'causal & sliding(20)' });
    const got = await attention(q, k, v, { pattern: 'causal & sliding(20)' });
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
  }, 60_000);

  it('aborting a running linearAttention call rejects with AbortError before an identical call queued after it settles', async () => {
    const shape = [1, 2, 32768, 64];
    const [lq, lk, lv] = [1, 2, 3].map((seed) => Tensor.randn(shape, { seed: 20 + seed }));
    const order: string[] = [];
    const controller = new AbortController();
    const aborted = track(linearAttention(lq, lk, lv, { signal: controller.signal }), 'aborted', order);
    const other = track(linearAttention(lq, lk, lv), 'other', order);
    await sleep(5);
    controller.abort();
    const r = await aborted;
    expect(r.ok).toBe(false);
    expect(isAbortError((r as { error: unknown }).error), String((r as { error: unknown }).error)).toBe(true);
    expect(order[0]).toBe('aborted');
    const o = await other;
    expect(o.ok).toBe(true);
    // the call beside it is whole
    const want = linearAttentionSync(lq, lk, lv);
    expect(Array.from((o as { value: Tensor }).value.data.subarray(-64))).toEqual(Array.from(want.data.subarray(-64)));
  }, 60_000);

  it('aborting a queued call settles it at once, ahead of the calls queued before it', async () => {
    const shape = [1, 8, 4096, 64];
    const [bq, bk, bv] = [1, 2, 3].map((seed) => Tensor.randn(shape, { seed: 30 + seed }));
    const order: string[] = [];
    const ahead = new AbortController();
    const first = Array.from({ length: 4 }, (_, i) => track(attention(bq, bk, bv, { signal: ahead.signal }), `ahead ${i}`, order));
    const controller = new AbortController();
    const queued = track(attention(bq, bk, bv, { signal: controller.signal }), 'queued', order);
    controller.abort();
    const r = await queued;
    expect(r.ok).toBe(false);
    expect(isAbortError((r as { error: unknown }).error)).toBe(true);
    expect(order).toEqual(['queued']);
    ahead.abort();
    for (const f of await Promise.all(first)) expect(f.ok || isAbortError((f as { error: unknown }).error)).toBe(true);
  }, 60_000);

  it('one signal shared by many calls aborts them all, without a listener per call', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      // calls long enough (≈ 10–50 ms each) that most are still queued when the signal aborts
      const [mq, mk, mv] = [1, 2, 3].map((seed) => Tensor.randn([1, 4, 1024, 64], { seed: 40 + seed }));
      const controller = new AbortController();
      const calls = Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? attention(mq, mk, mv, { signal: controller.signal }) : linearAttention(mq, mk, mv, { signal: controller.signal })).then(
          () => 'resolved',
          (e: unknown) => (isAbortError(e) ? 'aborted' : String(e)),
        ),
      );
      controller.abort();
      const outcomes = await Promise.all(calls);
      // a call may have finished before the abort reached it; nothing else is allowed
      expect(outcomes.filter((o) => o !== 'aborted' && o !== 'resolved')).toEqual([]);
      expect(outcomes.filter((o) => o === 'aborted').length).toBeGreaterThan(0);
      await sleep(0);
      expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('the native entry points check their cancel token argument', async () => {
    const addon = loadNative();
    expect(() => addon.cancel(5 as unknown as object)).toThrow(/cancel token/);
    expect(() => addon.cancel({})).toThrow(/cancel token/);
    const args = {
      q: { data: new Float32Array(64), dtype: 0 as const, shape: [1, 1, 1, 64] as [number, number, number, number], strides: [64, 64, 64, 1] as [number, number, number, number], offset: 0 },
      k: { data: new Float32Array(64), dtype: 0 as const, shape: [1, 1, 1, 64] as [number, number, number, number], strides: [64, 64, 64, 1] as [number, number, number, number], offset: 0 },
      v: { data: new Float32Array(64), dtype: 0 as const, shape: [1, 1, 1, 64] as [number, number, number, number], strides: [64, 64, 64, 1] as [number, number, number, number], offset: 0 },
      out: { data: new Float32Array(64), dtype: 0 as const, shape: [1, 1, 1, 64] as [number, number, number, number], strides: [64, 64, 64, 1] as [number, number, number, number], offset: 0 },
      lse: new Float32Array(1),
      mask: { seqQ: 1, seqK: 1, blockQ: 64, blockK: 64, numQBlocks: 1, numKBlocks: 1, heads: 1, wordsPerRow: 2, rowPtr: Int32Array.of(0, 1), colIdx: Int32Array.of(0), partial: Int32Array.of(-1), bits: new Uint32Array(0) },
      scale: 0.125,
      softcap: 0,
      alibi: null,
      rope: null,
    };
    const tile = addon.info().cpu.tile;
    args.mask.blockQ = tile.blockQ;
    args.mask.blockK = tile.blockK;
    args.mask.wordsPerRow = Math.ceil(tile.blockK / 32);
    expect(() => addon.attention(args, {} as object)).toThrow(/cancel token/);
    const token = addon.cancelToken();
    await addon.attention(args, token); // a live token
    addon.cancel(token); // after the call: nothing to cancel
    const again = addon.cancelToken();
    addon.cancel(again);
    await expect(addon.attention(args, again)).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });
});
