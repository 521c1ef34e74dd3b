/**
 * The one place that decides what `backend: 'auto'` runs for host tensors: the native CPU backend
 * when the addon loads, else the WebAssembly backend (the same kernels compiled to SIMD128, shipped
 * in the package for every platform, about a third of native's speed). When neither can run,
 * 'auto' throws NativeUnavailableError (which says how to get a binary) instead of quietly running
 * the pure-TypeScript reference, 100× slower.
 */
import type { AddonBindings } from '../native/bindings.js';
import { NativeUnavailableError, tryLoadNative } from '../native/load.js';
import { wasmStatus } from '../wasm/index.js';

export interface HostChoice {
  /** what 'auto' runs host tensors on; null: nothing (calls throw NativeUnavailableError) */
  backend: 'cpu' | 'wasm' | null;
  /** why: the native addon loaded, or why it did not and what runs instead */
  reason: string;
}

/**
 * What 'auto' runs host tensors on, and why. `lacks` names what a loaded addon is missing for the
 * call (an entry point of older sources), or null when it has everything.
 */
export function autoHostChoice(lacks?: (addon: AddonBindings) => string | null): HostChoice {
  const native = tryLoadNative();
  const missing = 'error' in native ? `native addon not loaded: ${native.error}` : (lacks?.(native.addon) ?? null);
  if (missing === null) return { backend: 'cpu', reason: 'the native addon loaded' };
  const wasm = wasmStatus();
  if (wasm.available) return { backend: 'wasm', reason: `${missing}; the WebAssembly backend runs the same kernels instead` };
  return { backend: null, reason: `${missing}; the WebAssembly backend is unavailable too: ${wasm.reason}` };
}

/** The backend 'auto' runs host tensors on; throws NativeUnavailableError when neither can run. */
export function autoHostBackend(lacks?: (addon: AddonBindings) => string | null): 'cpu' | 'wasm' {
  const choice = autoHostChoice(lacks);
  if (choice.backend !== null) return choice.backend;
  const native = tryLoadNative();
  throw new NativeUnavailableError('error' in native ? `${native.error}; the WebAssembly backend is unavailable too: ${wasmStatus().reason}` : choice.reason);
}

/** The addon backend 'cpu' runs on; throws NativeUnavailableError (how to get one) when none loads. */
export function nativeHostAddon(): AddonBindings {
  const native = tryLoadNative();
  if ('error' in native) throw new NativeUnavailableError(native.error);
  return native.addon;
}
