/**
 * The one place that decides what `backend: 'auto'` runs for host tensors. Today that is the
 * native CPU backend or nothing: without a native binary 'auto' throws NativeUnavailableError
 * (which says how to get one) instead of quietly running the pure-TypeScript reference, 100×
 * slower. A faster portable backend (WebAssembly) would become the fallback here.
 */
import type { AddonBindings } from '../native/bindings.js';
import { NativeUnavailableError, tryLoadNative } from '../native/load.js';

/** The addon that 'auto' runs host tensors on; throws NativeUnavailableError when none loads. */
export function autoHostAddon(): AddonBindings {
  const native = tryLoadNative();
  if ('error' in native) throw new NativeUnavailableError(native.error);
  return native.addon;
}
