/**
 * The worker threads of the wasm backend. Each instantiates the module and waits for work:
 * - over the shared memory (the threads build): { type: 'phase' } runs one phase of a call that
 *   the main thread placed in memory, taking items from the call's counter alongside the others;
 * - over a memory of its own (the build without threads): { type: 'call' } receives a whole call
 *   (record and inputs), runs it and posts the outputs back.
 * The worker's code is exec.ts's workerMain and the functions it calls, as source text.
 */
import { Worker } from 'node:worker_threads';
import { workerSource } from './exec.js';
import type { Arena, CallKind } from './layout.js';

export interface WorkerSetup {
  module: WebAssembly.Module;
  /** the shared memory, or null: the worker makes its own of `minPages` */
  memory: WebAssembly.Memory | null;
  minPages: number;
  maxPages: number;
  /** the top of this worker's stack in the shared memory (0 with a memory of its own) */
  stackTop: number;
}

/** Work for a worker: one phase of a call in the shared memory, or a whole call in its own memory. */
export type WorkerTask =
  | { type: 'phase'; kind: CallKind; base: number; counter: number; phase: number; scratch: number }
  | { type: 'call'; arena: Arena };

export type WorkerRequest = WorkerTask & { id: number };

export type WorkerReply = { id: number; error?: string; outputs?: Uint8Array[] };

/** Starts one worker thread (unreferenced: an idle worker never keeps the process alive). */
export function startWorker(setup: WorkerSetup): Worker {
  const w = new Worker(workerSource, { eval: true, workerData: setup });
  w.unref();
  return w;
}
