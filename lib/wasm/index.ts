/**
 * The wasm backend's runtime: the CPU backend's kernels compiled to WebAssembly with SIMD128
 * (native/wasm, scripts/build-wasm.sh) for platforms without a native binary; lib/backends/wasm.ts
 * runs calls on it. Status, the thread setting, and what the module says of its kernels.
 */
import type { AttentionKernelFacts } from './attention.js';
import type { wasmEngine } from './engine.js';
import { countWork, ropeFloats } from './schedule.js';

export { setWasmThreads, wasmStatus, WasmUnavailableError, type WasmThreads } from './engine.js';
export type { WasmStatus } from './status.js';

/** The tile, lanes, partial-result and RoPE table sizes of the module's attention kernel, and its work cut. */
export function kernelFacts(e: ReturnType<typeof wasmEngine>): AttentionKernelFacts {
  return {
    tile: e.tile,
    lanes: e.lanes,
    partialFloats: (d) => e.exports.af_attention_partial_floats(d),
    ropeFloats: (positions, dims) => ropeFloats(e, positions, dims),
    countWork: (shape, mask, threads) => countWork(e, shape, mask, threads),
  };
}
