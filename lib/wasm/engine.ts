/**
 * The wasm backend's runtime: one module instance on the calling thread over one memory, a heap
 * in that memory, and worker threads for asynchronous calls.
 * - Where WebAssembly threads work (SharedArrayBuffer, shared memory): the threads build over one
 *   shared memory. A call's arena is placed once; each phase of it runs on up to `threads`
 *   workers at once, which take work items from a counter in the arena (as the native pool's
 *   threads do). Synchronous calls run on the calling thread.
 * - Otherwise (or with ATTNFLOW_WASM_THREADS=off): the build without threads. Synchronous calls
 *   run on the calling thread; asynchronous ones on one worker with a memory of its own, which
 *   receives the call's inputs and posts its outputs back.
 * Either way an asynchronous call never runs a kernel on the event loop's thread.
 */
import { availableParallelism } from 'node:os';
import { abortError, throwIfAborted } from '../abort.js';
import { loadBinary, MAX_PAGES, threadsUnavailableReason, type WasmBinary } from './binary.js';
import { checkArena, cString, placeArena, readOutputs, runPhase, scratchBytes, type WasmExports } from './exec.js';
import { WasmHeap } from './heap.js';
import { parseFields, type Arena, type RecordLayout } from './layout.js';
import { WorkerPool } from './pool.js';
import type { WasmStatus } from './status.js';

/** Bytes of each worker's stack (build-wasm.sh links with the same -z stack-size). */
const STACK_BYTES = 128 * 1024;

/** Threads for asynchronous calls, or 'off': the build without WebAssembly threads. */
export type WasmThreads = number | 'off';

interface Engine {
  readonly binary: WasmBinary;
  readonly memory: WebAssembly.Memory;
  readonly exports: WasmExports;
  readonly heap: WasmHeap;
  readonly layouts: { readonly attention: RecordLayout; readonly linear: RecordLayout };
  readonly tile: { blockQ: number; blockK: number };
  /** floats per vector of the module's kernels (head dimensions are padded to it) */
  readonly lanes: number;
  /** threads an asynchronous call runs on */
  readonly threads: number;
  /** why the threads build is not in use (null when it is) */
  readonly notShared: string | null;
  readonly pool: WorkerPool;
}

/** Thrown when the wasm backend cannot run in this runtime or installation; says why. */
export class WasmUnavailableError extends Error {
  constructor(reason: string) {
    super(`attnflow: the wasm backend is not available (${reason})`);
    this.name = 'WasmUnavailableError';
  }
}

let configured: WasmThreads | undefined;
let current: Engine | { error: string } | undefined;

/** The thread setting: setWasmThreads(), else ATTNFLOW_WASM_THREADS, else the CPUs available. */
function threadSetting(): WasmThreads {
  if (configured !== undefined) return configured;
  const env = process.env.ATTNFLOW_WASM_THREADS?.trim();
  if (env === 'off') return 'off';
  const n = Number(env);
  if (env && Number.isInteger(n) && n >= 1 && n <= 1024) return n;
  return availableParallelism();
}

/** A memory for the module: shared (the threads build) or not, as large as wasm32 allows. */
function makeMemory(b: WasmBinary): { memory: WebAssembly.Memory; maxPages: number } {
  let last: unknown;
  // A shared memory reserves its maximum up front; where 4 GiB of address space is not to be
  // had, take less.
  for (const maxPages of [MAX_PAGES, MAX_PAGES / 4, MAX_PAGES / 16]) {
    try {
      return { memory: new WebAssembly.Memory({ initial: b.minPages, maximum: maxPages, shared: b.shared }), maxPages };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

function createEngine(): Engine | { error: string } {
  const setting = threadSetting();
  let notShared: string | null = setting === 'off' ? 'WebAssembly threads turned off (ATTNFLOW_WASM_THREADS=off)' : threadsUnavailableReason();
  let binary: WasmBinary | { error: string } | null = null;
  if (notShared === null) {
    binary = loadBinary(true);
    if ('error' in binary) {
      notShared = binary.error;
      binary = null;
    }
  }
  binary ??= loadBinary(false);
  if ('error' in binary) return { error: binary.error };
  const b = binary;
  try {
    const { memory, maxPages } = makeMemory(b);
    const exports = new WebAssembly.Instance(b.module, { env: { memory } }).exports as unknown as WasmExports;
    const heap = new WasmHeap(memory, exports.__heap_base.value as number, maxPages);
    const threads = b.shared ? (setting as number) : 1;
    const pool = b.shared
      ? new WorkerPool(threads, () => ({ module: b.module, memory, minPages: b.minPages, maxPages, stackTop: heap.alloc(STACK_BYTES) + STACK_BYTES }))
      : new WorkerPool(1, () => ({ module: b.module, memory: null, minPages: b.minPages, maxPages, stackTop: 0 }));
    return {
      binary: b,
      memory,
      exports,
      heap,
      layouts: { attention: parseFields(cString(memory, exports.af_call_fields(0))), linear: parseFields(cString(memory, exports.af_call_fields(1))) },
      tile: { blockQ: exports.af_tile_q(), blockK: exports.af_tile_k() },
      lanes: exports.af_lanes(),
      threads,
      notShared,
      pool,
    };
  } catch (err) {
    return { error: `${b.path} does not instantiate (${(err as Error).message})` };
  }
}

function engineOrError(): Engine | { error: string } {
  current ??= createEngine();
  return current;
}

/** The engine; throws WasmUnavailableError when the backend cannot run here. */
export function wasmEngine(): Engine {
  const e = engineOrError();
  if ('error' in e) throw new WasmUnavailableError(e.error);
  return e;
}


/** Whether the wasm backend can run, how, and why not. Never throws. */
export function wasmStatus(): WasmStatus {
  const e = engineOrError();
  if ('error' in e) return { available: false, reason: e.error };
  return {
    available: true,
    threads: e.threads,
    shared: e.binary.shared,
    ...(e.notShared === null ? {} : { sharedReason: e.notShared }),
    simd: 'simd128',
    lanes: e.lanes,
    module: e.binary.path,
    moduleBytes: e.binary.bytes,
    tile: e.tile,
  };
}

/**
 * Sets the threads of asynchronous calls ('off': the build without WebAssembly threads; undefined:
 * back to ATTNFLOW_WASM_THREADS or the CPU count). Waits for calls in flight, then stops the
 * workers; the next call starts afresh. For benchmarks and tests.
 */
export async function setWasmThreads(threads: WasmThreads | undefined): Promise<void> {
  if (threads !== undefined && threads !== 'off' && !(Number.isInteger(threads) && threads >= 1 && threads <= 1024)) {
    throw new RangeError(`threads must be an integer in [1, 1024] or 'off' (got ${String(threads)})`);
  }
  const old = current;
  configured = threads;
  current = undefined;
  if (old && !('error' in old)) {
    await old.pool.exclusive(async () => undefined);
    await old.pool.close();
  }
}

/** Runs a call on the calling thread. */
export function runArenaSync(a: Arena): void {
  const e = wasmEngine();
  const base = e.heap.alloc(a.bytes);
  try {
    placeArena(e.memory, base, a);
    const bad = checkArena(e.exports, e.memory, a.kind, base);
    if (bad !== null) throw new Error(`wasm backend: ${bad}`);
    const scratch = e.heap.alloc(scratchBytes(e.exports, a, base));
    try {
      for (let p = 0; p < a.phases.length; p++) runPhase(e.exports, a.kind, base, base + a.counters + 4 * p, p, scratch);
    } finally {
      e.heap.release(scratch);
    }
    readOutputs(e.memory, base, a);
  } finally {
    e.heap.release(base);
  }
}

/**
 * Runs a call on the worker threads; the calling thread only copies inputs in and outputs out.
 * `signal` aborts it (lib/abort.ts's semantics): the workers stop at their next work item, and
 * the promise rejects with an AbortError once none of them touches the call any more; nothing is
 * copied back.
 */
export function runArena(a: Arena, signal?: AbortSignal): Promise<void> {
  const e = wasmEngine();
  return e.pool.exclusive(async () => {
    throwIfAborted(signal); // aborted while waiting for the workers
    await (e.binary.shared ? runShared(e, a, signal) : runPrivate(e, a, signal));
  });
}

async function runShared(e: Engine, a: Arena, signal: AbortSignal | undefined): Promise<void> {
  const base = e.heap.alloc(a.bytes);
  let scratch = 0;
  const stop = () => Atomics.store(new Int32Array(e.memory.buffer), (base + a.cancel) / 4, 1);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    placeArena(e.memory, base, a);
    const bad = checkArena(e.exports, e.memory, a.kind, base);
    if (bad !== null) throw new Error(`wasm backend: ${bad}`);
    const each = scratchBytes(e.exports, a, base);
    const threads = Math.max(1, Math.min(e.threads, Math.max(...a.phases)));
    scratch = e.heap.alloc(each * threads);
    for (let p = 0; p < a.phases.length; p++) {
      const n = Math.min(threads, a.phases[p]);
      const counter = base + a.counters + 4 * p;
      const runs = [];
      for (let i = 0; i < n; i++) runs.push(e.pool.request(i, { type: 'phase', kind: a.kind, base, counter, phase: p, scratch: scratch + i * each }));
      // every worker must be done with the arena before it is released, also when one failed
      const settled = await Promise.allSettled(runs);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      throwIfAborted(signal);
    }
    readOutputs(e.memory, base, a);
  } finally {
    signal?.removeEventListener('abort', stop);
    if (scratch) e.heap.release(scratch);
    e.heap.release(base);
  }
}

async function runPrivate(e: Engine, a: Arena, signal: AbortSignal | undefined): Promise<void> {
  // Copies of just the bytes the worker needs, transferred (a view would clone its whole buffer).
  const record = a.record.slice();
  const inputs = a.inputs.map((r) => ({ offset: r.offset, data: r.data.slice() }));
  const image = { ...a, record, inputs, outputs: a.outputs.map((r) => ({ offset: r.offset, bytes: r.bytes })) };
  const reply = e.pool.request(0, { type: 'call', arena: image }, [record.buffer, ...inputs.map((r) => r.data.buffer)]);
  // The worker computes on its own copies: an abort rejects at once (the worker's result, when it
  // comes, is dropped), and the caller's tensors are never written.
  let done: Awaited<typeof reply>;
  if (signal === undefined) done = await reply;
  else {
    reply.catch(() => undefined); // once aborted, a late failure has no one to tell
    let onAbort = () => undefined as void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      done = await Promise.race([reply, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
  done.outputs!.forEach((o, i) => a.outputs[i].data?.set(o));
}
