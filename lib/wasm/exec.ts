/**
 * Running one call in one module instance: placing its arena in memory, the module's check,
 * scratch sizes, the work loop of each phase, reading the results back. The main thread runs
 * these for synchronous calls; the worker threads run the same functions: workerSource is their
 * source text, evaluated in each worker. So nothing here may use a value imported into this module
 * (type imports only), and the functions refer to each other only by name.
 */
import type { Arena, CallKind } from './layout.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './worker.js';

/** The functions native/wasm exports. Pointers are byte addresses in the module's memory. */
export interface WasmExports {
  af_attention_scratch_floats(arena: number): number;
  af_attention_check(arena: number): number;
  af_attention_run(arena: number, phase: number, counter: number, scratch: number): void;
  af_linear_check(arena: number): number;
  af_linear_scratch_floats(arena: number): number;
  af_linear_run(arena: number, counter: number, scratch: number): void;
  af_call_fields(which: number): number;
  af_lanes(): number;
  af_attention_partial_floats(headDim: number): number;
  af_attention_rope_floats(qpos: number, kpos: number, kposLen: number, kposStride: number, seqQ: number, seqK: number, kvHeads: number, shift: number, dims: number): number;
  af_attention_count_work(rowPtr: number, rowPtrLen: number, B: number, Hq: number, Hkv: number, Sq: number, maskHeads: number, numQBlocks: number, threads: number, out: number): number;
  af_tile_q(): number;
  af_tile_k(): number;
  __heap_base: WebAssembly.Global;
  __stack_pointer: WebAssembly.Global;
}

/** The NUL-terminated string at `ptr`. */
export function cString(memory: WebAssembly.Memory, ptr: number): string {
  const bytes = new Uint8Array(memory.buffer);
  let end = ptr;
  while (bytes[end] !== 0) end++;
  // a copy: TextDecoder refuses views of shared memory
  return new TextDecoder().decode(bytes.slice(ptr, end));
}

/** Copies the record and inputs of an arena to `base` and zeroes what must start zeroed. */
export function placeArena(memory: WebAssembly.Memory, base: number, a: Arena): void {
  const bytes = new Uint8Array(memory.buffer);
  bytes.set(a.record, base);
  for (const r of a.inputs) bytes.set(r.data, base + r.offset);
  for (const z of a.zeroed) bytes.fill(0, base + z.offset, base + z.offset + z.bytes);
}

/** The module's verdict on the arena at `base`: null, or what is wrong with the call. */
export function checkArena(exports: WasmExports, memory: WebAssembly.Memory, kind: CallKind, base: number): string | null {
  const msg = kind === 'attention' ? exports.af_attention_check(base) : exports.af_linear_check(base);
  return msg === 0 ? null : cString(memory, msg);
}

/** Bytes of one thread's scratch for the (checked) arena at `base`, a multiple of 64. */
export function scratchBytes(exports: WasmExports, a: Arena, base: number): number {
  const floats = a.kind === 'attention' ? exports.af_attention_scratch_floats(base) : exports.af_linear_scratch_floats(base);
  return Math.ceil((floats * 4) / 64) * 64;
}

/**
 * Works on one phase of the (checked) call at `base`, taking indices from the int32 at `counter`
 * until none is left; threads working on one phase share the counter.
 */
export function runPhase(exports: WasmExports, kind: CallKind, base: number, counter: number, phase: number, scratch: number): void {
  if (kind === 'attention') exports.af_attention_run(base, phase, counter, scratch);
  else exports.af_linear_run(base, counter, scratch);
}

/** Copies the call's outputs from the arena at `base` into their destinations. */
export function readOutputs(memory: WebAssembly.Memory, base: number, a: Arena): void {
  const bytes = new Uint8Array(memory.buffer);
  for (const r of a.outputs) r.data?.set(bytes.subarray(base + r.offset, base + r.offset + r.bytes));
}

/** The body of a worker thread (runs in the worker; uses only its own source and exec.ts's). */
export function workerMain(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const setup = workerData as WorkerSetup;
  const memory = setup.memory ?? new WebAssembly.Memory({ initial: setup.minPages, maximum: setup.maxPages });
  const exports = new WebAssembly.Instance(setup.module, { env: { memory } }).exports as unknown as WasmExports;
  if (setup.stackTop) exports.__stack_pointer.value = setup.stackTop;
  const heapBase = Math.ceil((exports.__heap_base.value as number) / 64) * 64;
  const ensure = (end: number) => {
    const have = memory.buffer.byteLength;
    if (end > have) memory.grow(Math.ceil((end - have) / 65536));
  };
  parentPort!.on('message', (m: WorkerRequest) => {
    try {
      if (m.type === 'phase') {
        runPhase(exports, m.kind, m.base, m.counter, m.phase, m.scratch);
        parentPort!.postMessage({ id: m.id } satisfies WorkerReply);
        return;
      }
      const a = m.arena;
      ensure(heapBase + a.bytes);
      placeArena(memory, heapBase, a);
      const bad = checkArena(exports, memory, a.kind, heapBase);
      if (bad !== null) throw new Error(bad);
      const scratch = heapBase + a.bytes;
      ensure(scratch + scratchBytes(exports, a, heapBase));
      for (let p = 0; p < a.phases.length; p++) runPhase(exports, a.kind, heapBase, heapBase + a.counters + 4 * p, p, scratch);
      const bytes = new Uint8Array(memory.buffer);
      const outputs = a.outputs.map((r) => bytes.slice(heapBase + r.offset, heapBase + r.offset + r.bytes));
      parentPort!.postMessage({ id: m.id, outputs } satisfies WorkerReply, outputs.map((o) => o.buffer));
    } catch (err) {
      parentPort!.postMessage({ id: m.id, error: String((err as Error)?.message ?? err) } satisfies WorkerReply);
    }
  });
}


/** The worker threads' program: this module's functions and a call of workerMain. */
export const workerSource = [cString, placeArena, checkArena, scratchBytes, runPhase, workerMain].map(String).join('\n') + '\nworkerMain();\n';
