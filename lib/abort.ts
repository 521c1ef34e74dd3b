/**
 * `options.signal` of the async functions (attention, linearAttention, device copies), in one
 * place: validation, the AbortError they reject with, and the bridge from an AbortSignal to the
 * addon's cancel tokens (native/binding/worker.h).
 *
 * Semantics, as fetch and timers/promises: an already-aborted signal rejects at once, before any
 * native work; aborting a running call stops its native work at the next work item (CPU: a row of
 * tiles or a chunk of a scan; CUDA: between launches and between 64 MiB pieces of a copy) and the
 * promise rejects with a DOMException named 'AbortError' whose `cause` is `signal.reason`. When it
 * rejects, no native code touches the call's buffers any more; an `out` tensor the caller passed
 * is left partly written (unspecified values, still a valid tensor). A call that had already
 * finished when the signal aborted resolves normally.
 */
import { describeValue } from './describe.js';
import type { AddonBindings, NativeCancelToken } from './native/bindings.js';
import { loadNative } from './native/load.js';

/** The options every async function takes besides its own. */
export interface AsyncOptions {
  /** aborts the call: the promise rejects with a DOMException named 'AbortError' */
  signal?: AbortSignal;
}

/** The addon's cancel-token functions, optional: an addon built from older sources lacks them. */
type CancelAddon = Partial<Pick<AddonBindings, 'cancelToken' | 'cancel'>>;

function isAbortSignal(x: unknown): x is AbortSignal {
  if (x instanceof AbortSignal) return true;
  // a signal of another realm (vm context) or a compatible implementation
  const s = x as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null;
  return typeof s === 'object' && s !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function';
}

/** `options.signal`, checked: undefined or an AbortSignal. */
export function checkSignal(signal: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!isAbortSignal(signal)) throw new TypeError(`${name} must be an AbortSignal (got ${describeValue(signal)})`);
  return signal;
}

/**
 * Splits the options of an async function into its checked signal and the other options (a copy
 * without `signal`, or `options` itself when it has none), for the validation shared with the
 * synchronous variant, which takes no signal. Never modifies `options`.
 */
export function takeSignal(options: unknown): { signal: AbortSignal | undefined; options: unknown } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return { signal: undefined, options };
  const signal = checkSignal((options as AsyncOptions).signal);
  if (!Object.hasOwn(options, 'signal')) return { signal, options };
  const { signal: _, ...rest } = options as AsyncOptions & Record<string, unknown>;
  return { signal, options: rest };
}

/** What an aborted call rejects with: a DOMException named 'AbortError', caused by the signal's reason. */
export function abortError(signal: AbortSignal): DOMException {
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: signal.reason });
}

/** Throws abortError(signal) when the signal has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

// One 'abort' listener per signal, however many calls use it (a listener per call would trip
// Node's MaxListenersExceededWarning for a signal shared by many calls).
const subscribers = new WeakMap<AbortSignal, Set<() => void>>();

function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = subscribers.get(signal);
  if (set === undefined) {
    const fns = new Set<() => void>();
    set = fns;
    subscribers.set(signal, fns);
    signal.addEventListener(
      'abort',
      () => {
        for (const f of fns) f();
        fns.clear();
      },
      { once: true },
    );
  }
  set.add(fn);
  const s = set;
  return () => s.delete(fn);
}

/** Whether a native rejection reports a cancelled call. */
function isNativeAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ABORT_ERR';
}

/**
 * Runs one asynchronous native call (`start` receives the cancel token to pass as the entry
 * point's last argument) with `signal` wired to it.
 */
export async function nativeCall<T>(signal: AbortSignal | undefined, start: (token: NativeCancelToken | undefined) => Promise<T>): Promise<T> {
  if (signal === undefined) return start(undefined);
  throwIfAborted(signal);
  const addon = loadNative() as CancelAddon;
  if (typeof addon.cancelToken !== 'function' || typeof addon.cancel !== 'function') {
    throw new Error('attnflow: the loaded native addon cannot cancel calls (rebuild it: npx cmake-js compile)');
  }
  const token = addon.cancelToken();
  const cancel = addon.cancel.bind(addon);
  const unsubscribe = onAbort(signal, () => cancel(token));
  try {
    return await start(token);
  } catch (e) {
    if (isNativeAbort(e)) throw abortError(signal);
    throw e;
  } finally {
    unsubscribe();
  }
}
