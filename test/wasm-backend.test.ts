/**
 * The wasm backend (the CPU kernels in WebAssembly): the oracle grid on backend 'wasm', with
 * WebAssembly threads (one shared memory, worker threads) and without them (the build without
 * threads: the calling thread, or one worker with a memory of its own); split-KV decoding across
 * threads (the module's work cut); the module refusing call records that disagree with themselves
 * (positions, RoPE rows and key-mass records included); the heap. Explicit positions, alignment,
 * key masses and select on wasm: the shared tests (positions, keymass, select, kvcache).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { attention, attentionSync, info, linearAttention, linearAttentionSync, Tensor, type AttentionOptions } from '../lib/index.js';
import { compileMask } from '../lib/mask/index.js';
import { planAttention } from '../lib/attention/plan.js';
import { kernelFacts, setWasmThreads, wasmStatus } from '../lib/wasm/index.js';
import { attentionArenas } from '../lib/wasm/attention.js';
import { linearArena } from '../lib/wasm/linear.js';
import { planLinearAttention } from '../lib/linear/plan.js';
import { runArenaSync, wasmEngine } from '../lib/wasm/engine.js';
import { WasmHeap } from '../lib/wasm/heap.js';
import { oracleGrid } from './helpers/backend-grid.js';
import { oracle, relError, toBhsd, TOLERANCE } from './helpers/oracle.js';

let seed = 9100;
function qkv(b: number, hq: number, hkv: number, sq: number, sk: number, d: number, dtype: 'float32' | 'float16' | 'bfloat16' = 'float32') {
  return {
    q: Tensor.randn([b, hq, sq, d], { dtype, seed: seed++ }),
    k: Tensor.randn([b, hkv, sk, d], { dtype, seed: seed++ }),
    v: Tensor.randn([b, hkv, sk, d], { dtype, seed: seed++ }),
  };
}

function expectOracle(out: Tensor, lse: Tensor, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): void {
  const ref = oracle(q, k, v, o);
  expect(relError(toBhsd(out), ref.out)).toBeLessThanOrEqual(TOLERANCE[q.dtype]);
  expect(relError(lse.toFloat32(), ref.lse)).toBeLessThanOrEqual(1e-5);
}

afterAll(() => setWasmThreads(undefined));

describe('wasm backend', () => {
  it('is available, uses the threads build, and info() reports it', () => {
    const s = wasmStatus();
    expect(s.available, s.reason).toBe(true);
    expect(s.shared).toBe(true);
    expect(s.threads).toBeGreaterThan(0);
    expect(s.moduleBytes).toBeGreaterThan(1000);
    const w = info().backends.wasm;
    expect(w.available).toBe(true);
    expect(w.threads).toBe(s.threads);
    expect(w.simd).toBe('simd128');
  });
});

oracleGrid('wasm', { heads: 4, seq: 1024 });

describe('wasm backend: threads', () => {
  it('splits decoding rows across threads and merges them exactly (async, 1, 2 and 4 threads)', async () => {
    const { q, k, v } = qkv(1, 8, 2, 1, 3000, 64);
    const o: AttentionOptions = { pattern: 'causal & sliding(2000) | sink(4)', returnLse: true };
    // with more than one thread the rows are cut into parts that a second phase merges
    const mask = compileMask('causal & sliding(2000) | sink(4)', { seqQ: 1, seqK: 3000, heads: 8, blockQ: 64, blockK: 64 });
    const facts = kernelFacts(wasmEngine());
    const split = facts.countWork({ B: 1, Hq: 8, Hkv: 2, Sq: 1 }, mask, 2);
    expect(split.merges).toBeGreaterThan(0);
    expect(split.slots).toBeGreaterThan(split.merges);
    expect(facts.countWork({ B: 1, Hq: 8, Hkv: 2, Sq: 1 }, mask, 1)).toMatchObject({ items: 2, merges: 0, slots: 0 }); // 4 heads packed per item
    for (const threads of [1, 2, 4]) {
      await setWasmThreads(threads);
      expect(wasmStatus().threads).toBe(threads);
      const r = await attention(q, k, v, { ...o, backend: 'wasm', returnLse: true });
      expectOracle(r.out, r.lse, q, k, v, o);
    }
  });

  it("without WebAssembly threads ('off'): the same results, sync on the calling thread, async on a worker", async () => {
    await setWasmThreads('off');
    const s = wasmStatus();
    expect(s.shared).toBe(false);
    expect(s.sharedReason).toMatch(/turned off/);
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      const { q, k, v } = qkv(2, 4, 2, 70, 130, 40, dtype);
      const o: AttentionOptions = { pattern: 'causal & sliding(50) | sink(2)', alibi: true, rope: {}, softcap: 20 };
      const a = attentionSync(q, k, v, { ...o, backend: 'wasm', returnLse: true });
      expectOracle(a.out, a.lse, q, k, v, o);
      const b = await attention(q, k, v, { ...o, backend: 'wasm', returnLse: true });
      expect(b.out.data).toEqual(a.out.data);
      expect(b.lse.data).toEqual(a.lse.data);
    }
    // linear attention too
    const lin = qkv(2, 4, 2, 150, 150, 16);
    const lo = { decay: 0.97, returnState: true as const, backend: 'wasm' as const };
    const la = linearAttentionSync(lin.q, lin.k, lin.v, lo);
    const lb = await linearAttention(lin.q, lin.k, lin.v, lo);
    expect(lb.out.data).toEqual(la.out.data);
    expect(lb.state.S.data).toEqual(la.state.S.data);
    expect(relError(la.out.toFloat32(), linearAttentionSync(lin.q, lin.k, lin.v, { ...lo, backend: 'reference' }).out.toFloat32())).toBeLessThanOrEqual(1e-5);
    // the event loop stays free while the worker computes
    const { q, k, v } = qkv(1, 4, 4, 1024, 1024, 64);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const start = performance.now();
    let calls = 0;
    while (performance.now() - start < 300 || calls < 2) {
      await attention(q, k, v, { backend: 'wasm' });
      calls++;
    }
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(calls);
    await setWasmThreads(undefined);
  });

  it('concurrent calls on 2 threads and sync calls in between all match the oracle', async () => {
    await setWasmThreads(2);
    const jobs = Array.from({ length: 12 }, (_, i) => ({ ...qkv(1, 4, 2, 20 + 13 * i, 150, 24), o: { pattern: i % 2 ? 'causal' : 'log', returnLse: true } as AttentionOptions }));
    const pending = jobs.map((j) => attention(j.q, j.k, j.v, { ...j.o, backend: 'wasm', returnLse: true }));
    const sync = jobs.map((j) => attentionSync(j.q, j.k, j.v, { ...j.o, backend: 'wasm', returnLse: true }));
    const done = await Promise.all(pending);
    jobs.forEach((j, i) => {
      expectOracle(done[i].out, done[i].lse, j.q, j.k, j.v, j.o);
      expect(done[i].out.data).toEqual(sync[i].out.data);
    });
    await setWasmThreads(undefined);
  });
});

describe('wasm backend: options.signal', () => {
  /**
   * Starts a call and, 20 ms in, aborts it or only notes the time; returns how the call settled
   * and the milliseconds from that moment to its settling. Timing both the aborted and the
   * uninterrupted call from the same moment leaves out their set-up (copying the inputs in) and a
   * timer that fires late on a loaded machine.
   */
  async function settleAfter20ms(start: (signal: AbortSignal) => Promise<unknown>, abort: boolean): Promise<{ error: unknown; ms: number }> {
    const ac = new AbortController();
    const call = start(ac.signal);
    let firedAt = NaN;
    setTimeout(() => {
      firedAt = performance.now();
      if (abort) ac.abort(new Error('enough'));
    }, 20);
    const error = await call.then(() => null, (err: unknown) => err);
    return { error, ms: performance.now() - firedAt };
  }

  async function expectAbortsSoon(start: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
    const full = await settleAfter20ms(start, false);
    expect(full.error).toBeNull();
    expect(full.ms, 'the uninterrupted call outlasts the 20 ms timer').toBeGreaterThan(0);
    const aborted = await settleAfter20ms(start, true);
    expect(aborted.error).toBeInstanceOf(DOMException);
    expect((aborted.error as DOMException).name).toBe('AbortError');
    expect(((aborted.error as DOMException).cause as Error).message).toBe('enough');
    // settled at the workers' next work item, long before the rest of the call would have run
    expect(aborted.ms).toBeLessThan(full.ms / 4);
  }

  for (const threads of [2, 'off'] as const) {
    it(`aborts a running attention and linearAttention call (threads ${threads}); an aborted signal rejects at once`, async () => {
      await setWasmThreads(threads);
      const { q, k, v } = qkv(1, 8, 8, 1024, 1024, 64);
      await expectAbortsSoon((signal) => attention(q, k, v, { backend: 'wasm', signal }));
      const lin = qkv(1, 8, 8, 8192, 8192, 64);
      await expectAbortsSoon((signal) => linearAttention(lin.q, lin.k, lin.v, { backend: 'wasm', signal }));
      // the backend is fine afterwards
      const r = await attention(q, k, v, { backend: 'wasm', returnLse: true, pattern: 'causal' });
      expectOracle(r.out, r.lse, q, k, v, { pattern: 'causal' });
      await expect(attention(q, k, v, { backend: 'wasm', signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    });
  }
});

describe('wasm backend: the module checks every call record', () => {
  function arenaFor(options: AttentionOptions = {}, shape = [1, 2, 1, 100, 100, 16], threads = 1) {
    const [b, hq, hkv, sq, sk, d] = shape;
    const { q, k, v } = qkv(b, hq, hkv, sq, sk, d);
    const e = wasmEngine();
    const plan = planAttention(q, k, v, { causal: true, backend: 'wasm', ...options });
    return attentionArenas(plan, e.layouts.attention, kernelFacts(e), threads, null).arenas[0];
  }
  const field = (name: string) => 4 * wasmEngine().layouts.attention.fields.get(name)!.index;
  /** A run of a fresh arena with one record field overwritten. */
  const corruptWith = (make: () => ReturnType<typeof arenaFor>) => (name: string, value: number) => {
    const a = make();
    new DataView(a.record.buffer).setInt32(field(name), value, true);
    return () => runArenaSync(a);
  };

  it('runs a good record and refuses corrupted ones with a message', () => {
    const good = arenaFor();
    expect(() => runArenaSync(good)).not.toThrow();
    const corrupt = corruptWith(() => arenaFor());
    expect(corrupt('qS2', 10_000)).toThrow(/a view reaches past its region/);
    expect(corrupt('Hkv', 3)).toThrow(/bad shapes/);
    expect(corrupt('numKBlocks', 1)).toThrow(/tile shape/);
    expect(corrupt('arenaBytes', 64)).toThrow(/smaller than its record|outside the arena/);
    expect(corrupt('itemCount', 1000)).toThrow(/work items do not fit/);
    // the module cuts the work itself: counts that disagree with its cut are refused
    expect(corrupt('mergeCount', 1)).toThrow(/work items do not fit/);
    expect(corrupt('threads', 0)).toThrow(/cut for no threads/);
    expect(corrupt('maskHeads', 3)).toThrow(/mask heads must divide/);
    // default positions: the last query must stay inside int32
    expect(corrupt('shift', 2 ** 31 - 50)).toThrow(/query positions leave int32/);
  });

  it('refuses records whose positions, RoPE rows or key-mass regions disagree with the call', () => {
    // keys spread over a long sequence (RoPE rows of their own), one list per kv head, query positions
    const keyPositions = Int32Array.from({ length: 2 * 100 }, (_, x) => (x % 100) * 1000 + (x >= 100 ? 7 : 0));
    const queryPositions = Int32Array.from({ length: 100 }, (_, i) => 100_000 + i);
    const withPositions = { keyPositions, queryPositions, rope: { base: 10000 }, returnKeyMass: true } as const;
    const shape = [1, 4, 2, 100, 100, 16];
    expect(() => runArenaSync(arenaFor(withPositions, shape))).not.toThrow();
    const corrupt = corruptWith(() => arenaFor(withPositions, shape));
    expect(corrupt('kposStride', 7)).toThrow(/key position stride must be 0 or seqK/);
    expect(corrupt('kposBytes', 40)).toThrow(/key positions do not fit/);
    expect(corrupt('qposBytes', 8)).toThrow(/query positions do not fit/);
    expect(corrupt('ropeRowKBytes', 8)).toThrow(/RoPE rows do not fit/);
    expect(corrupt('ropeRowQ', 0)).toThrow(/RoPE rows do not fit|outside the arena/);
    expect(corrupt('ropeCosBytes', 64)).toThrow(/RoPE tables do not fit/);
    expect(corrupt('keyMassBytes', 16)).toThrow(/keyMass does not fit/);
    // a decoding call cut for 4 threads: its rows split, their key-mass records in massParts
    const decode = () => arenaFor({ returnKeyMass: true }, [1, 8, 2, 1, 3000, 16], 4);
    const splitCorrupt = corruptWith(decode);
    expect(() => runArenaSync(decode())).not.toThrow();
    expect(splitCorrupt('massPartsBytes', 4)).toThrow(/key-mass records do not fit/);
    expect(splitCorrupt('massOffsetsBytes', 0)).toThrow(/key-mass offsets do not fit/);
    expect(corrupt('massScratch', 0)).toThrow(/key-mass records do not fit/);
  });
});

describe('wasm backend: the module checks every linear-attention record', () => {
  it('refuses a gate outside (0, 1] and a state that does not fit', () => {
    const e = wasmEngine();
    const { q, k, v } = qkv(1, 2, 2, 40, 40, 8);
    const make = () => linearArena(planLinearAttention(q, k, v, { decay: new Float32Array([0.9, 0.8]), returnState: true, backend: 'wasm' }), e.layouts.linear, e.lanes).arena!;
    expect(() => runArenaSync(make())).not.toThrow();
    const field = (name: string) => 4 * e.layouts.linear.fields.get(name)!.index;
    const bad = make();
    const at = new DataView(bad.record.buffer).getUint32(field('decayHead'), true);
    const gammas = bad.inputs.find((r) => r.offset === at)!;
    new DataView(gammas.data.buffer, gammas.data.byteOffset).setFloat32(4, 1.5, true);
    expect(() => runArenaSync(bad)).toThrow(/a decay is outside \(0, 1\]/);
    const small = make();
    new DataView(small.record.buffer).setUint32(field('stateSBytes'), 16, true);
    expect(() => runArenaSync(small)).toThrow(/the state does not fit/);
  });
});

describe('wasm heap', () => {
  it('reuses and coalesces freed blocks, grows the memory, and refuses more than its limit', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const heap = new WasmHeap(memory, 1000, 4);
    const a = heap.alloc(100);
    const b = heap.alloc(100);
    const c = heap.alloc(100);
    expect(a % 64).toBe(0);
    expect(new Set([a, b, c]).size).toBe(3);
    heap.release(a);
    heap.release(b);
    expect(heap.alloc(200)).toBe(a); // a and b coalesced
    const big = heap.alloc(100_000);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(big + 100_000);
    expect(() => heap.alloc(1_000_000)).toThrow(RangeError);
    heap.release(big);
    heap.release(c);
    expect(() => heap.release(c)).toThrow(/not an allocated block/);
  });
});
