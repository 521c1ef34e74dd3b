/**
 * A first-fit allocator over a WebAssembly memory, from the module's heap base to the memory's
 * end, growing the memory when no free block fits. Blocks are 64-byte aligned. It lives on one
 * thread (the one that owns the memory's bookkeeping); worker threads only read and write the
 * blocks they are given.
 */
import { MAX_PAGES, PAGE } from './binary.js';

const ALIGN = 64;

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export class WasmHeap {
  /** free blocks [start, end), sorted by start, never adjacent (coalesced) */
  private readonly free: { start: number; end: number }[] = [];
  private readonly sizes = new Map<number, number>();
  private top: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    heapBase: number,
    private readonly maxPages: number = MAX_PAGES,
  ) {
    this.top = alignUp(heapBase, ALIGN);
  }

  /** Bytes in live blocks. */
  get allocatedBytes(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  /** A block of at least `bytes` bytes (contents undefined); throws RangeError when memory is exhausted. */
  alloc(bytes: number): number {
    const size = alignUp(Math.max(bytes, 1), ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.end - f.start >= size) {
        const at = f.start;
        f.start += size;
        if (f.start === f.end) this.free.splice(i, 1);
        this.sizes.set(at, size);
        return at;
      }
    }
    // Extend from the top, absorbing a free block that ends there.
    const last = this.free[this.free.length - 1];
    let at = this.top;
    if (last && last.end === this.top) {
      at = last.start;
      this.free.pop();
    }
    const end = at + size;
    const pages = Math.ceil(end / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (pages > have) {
      if (pages > this.maxPages) {
        if (at !== this.top) this.free.push({ start: at, end: this.top });
        throw new RangeError(
          `wasm backend: the call needs ${size} bytes of WebAssembly memory, beyond its ${(this.maxPages * PAGE) / 2 ** 30} GiB limit ` +
            `(${(this.allocatedBytes / 2 ** 20).toFixed(1)} MiB in use); use smaller inputs or the native backend`,
        );
      }
      this.memory.grow(pages - have);
    }
    this.top = Math.max(this.top, end);
    this.sizes.set(at, size);
    return at;
  }

  /** Returns a block from alloc(). */
  release(at: number): void {
    const size = this.sizes.get(at);
    if (size === undefined) throw new Error(`wasm heap: ${at} is not an allocated block`);
    this.sizes.delete(at);
    let start = at;
    let end = at + size;
    // Binary search for the insertion point, then coalesce with the neighbours.
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid].start < start) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.free[lo - 1];
    const next = this.free[lo];
    let insertAt = lo;
    let remove = 0;
    if (prev && prev.end === start) {
      start = prev.start;
      insertAt = lo - 1;
      remove++;
    }
    if (next && next.start === end) {
      end = next.end;
      remove++;
    }
    this.free.splice(insertAt, remove, { start, end });
  }
}
