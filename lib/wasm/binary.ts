/**
 * The WebAssembly modules of the wasm backend (scripts/build-wasm.sh builds them into
 * prebuilds/wasm/, and the npm tarball ships them): finding, reading and compiling the one this
 * runtime can run, and whether it can run WebAssembly threads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/load.js';

/** Bytes of one WebAssembly page. */
export const PAGE = 65536;
/** The largest memory a wasm32 module can address, in pages (4 GiB). */
export const MAX_PAGES = 65536;

export interface WasmBinary {
  readonly module: WebAssembly.Module;
  /** the file it was compiled from */
  readonly path: string;
  readonly bytes: number;
  /** true: the build for shared memory and worker threads (attnflow-threads.wasm) */
  readonly shared: boolean;
  /** the pages the module's memory import asks for at least */
  readonly minPages: number;
}

export function wasmPath(shared: boolean): string {
  return join(packageRoot, 'prebuilds', 'wasm', shared ? 'attnflow-threads.wasm' : 'attnflow.wasm');
}

/** Reads an unsigned LEB128 number at `pos`; returns it and the position after it. */
function leb(b: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = b[pos++];
    if (byte === undefined) throw new Error('truncated module');
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7;
  }
}

/**
 * The minimum pages of the module's imported memory, read from its import section (WebAssembly's
 * JS API does not report import limits): the memory we hand it must be at least that large.
 */
export function memoryImportMinPages(b: Uint8Array): number {
  let pos = 8; // magic and version
  while (pos < b.length) {
    const id = b[pos++];
    let size: number;
    [size, pos] = leb(b, pos);
    const end = pos + size;
    if (id === 2) {
      let count: number;
      [count, pos] = leb(b, pos);
      for (let i = 0; i < count; i++) {
        for (let s = 0; s < 2; s++) {
          let len: number;
          [len, pos] = leb(b, pos); // module name, then field name
          pos += len;
        }
        const kind = b[pos++];
        if (kind === 2) return leb(b, pos + 1)[0]; // limits: a flags byte, then the minimum
        if (kind === 0) [, pos] = leb(b, pos); // function: type index
        else if (kind === 1) {
          pos++; // table: element type, then limits
          const flags = b[pos++];
          [, pos] = leb(b, pos);
          if (flags & 1) [, pos] = leb(b, pos);
        } else if (kind === 3) pos += 2; // global: value type, mutability
        else throw new Error(`unknown import kind ${kind}`);
      }
    }
    pos = end;
  }
  throw new Error('the module imports no memory');
}

/** Why this runtime cannot run WebAssembly threads, or null when it can. */
export function threadsUnavailableReason(): string | null {
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (err) {
    return `shared WebAssembly memory is not available (${(err as Error).message})`;
  }
  return null;
}

const compiled = new Map<boolean, WasmBinary | { error: string }>();

/** The compiled module of one build, or why it cannot be used. Never throws. */
export function loadBinary(shared: boolean): WasmBinary | { error: string } {
  const hit = compiled.get(shared);
  if (hit) return hit;
  const path = wasmPath(shared);
  let r: WasmBinary | { error: string };
  if (!existsSync(path)) {
    r = { error: `${path} is missing (build it with scripts/build-wasm.sh, which needs clang, lld and wasi-libc)` };
  } else {
    try {
      const bytes = readFileSync(path);
      const module = new WebAssembly.Module(bytes);
      r = { module, path, bytes: bytes.length, shared, minPages: memoryImportMinPages(bytes) };
    } catch (err) {
      r = { error: `${path} does not compile in this runtime (${(err as Error).message}); it needs WebAssembly SIMD128${shared ? ' and threads' : ''}` };
    }
  }
  compiled.set(shared, r);
  return r;
}
