/** What info() reports of the wasm backend (no WebAssembly types: this is public API). */
export interface WasmStatus {
  available: boolean;
  /** why the backend is unavailable (absent when available) */
  reason?: string;
  /** threads asynchronous calls run on */
  threads?: number;
  /** whether the threads build (shared memory) is in use, and why not when it is not */
  shared?: boolean;
  sharedReason?: string;
  /** the instruction set the module is compiled for, and the floats per vector of its kernels */
  simd?: 'simd128';
  lanes?: number;
  /** the module file and its size in bytes */
  module?: string;
  moduleBytes?: number;
  tile?: { blockQ: number; blockK: number };
}
