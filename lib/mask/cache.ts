/**
 * Compiled masks, cached (LRU, 64 entries and 256 MiB of arrays at most) by a key of the pattern's
 * canonical string and the compile options. A cached BlockMask is shared (and frozen), so its
 * arrays must not be modified.
 */
import type { BlockMask } from './blockmask.js';

/** at most this many masks … */
const CACHE_LIMIT = 64;
/** … holding at most this many bytes of arrays */
const CACHE_BYTES = 256 * 1024 * 1024;
const cache = new Map<string, BlockMask>();
let cacheBytes = 0;

function bytesOf(m: BlockMask): number {
  return m.rowPtr.byteLength + m.colIdx.byteLength + m.partial.byteLength + m.bits.byteLength;
}

/** Empties the compiled-mask cache. */
export function clearMaskCache(): void {
  cache.clear();
  cacheBytes = 0;
}


/** The cached mask of `key` (now the most recently used), or undefined. */
export function cachedMask(key: string): BlockMask | undefined {
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
  }
  return hit;
}

/** Caches a mask under `key` (unless it alone exceeds the byte limit), evicting the least recently used. */
export function cacheMask(key: string, mask: BlockMask): void {
  const bytes = bytesOf(mask);
  if (bytes > CACHE_BYTES) return;
  cache.set(key, mask);
  cacheBytes += bytes;
  while (cache.size > CACHE_LIMIT || cacheBytes > CACHE_BYTES) {
    const [oldest, old] = cache.entries().next().value!;
    cache.delete(oldest);
    cacheBytes -= bytesOf(old);
  }
}
