/**
 * Eviction policies of a KVCache. Each call appends keys and then evicts down to the budget; the
 * cost of one eviction step is O(keys kept), never O(positions seen):
 *
 *  - window / streaming: the evictable keys of a head sit in a FIFO ring in arrival order (for
 *    streaming, the first `sinks` positions never enter it), so evicting is popping its front: O(1)
 *    per key.
 *  - h2o: each key's score is the attention mass it has received since it arrived (the kernels'
 *    keyMass, summed over the batch and over calls). Protected: the first `sinks` positions and the
 *    `recent` most recent ones; of the others, the lowest scores go (ties: the older key first),
 *    found in one scan of the head's keys with a bounded heap.
 *  - adaptive: the same scores and protection, but the total budget is shared by all kv heads:
 *    the keys evicted are the lowest-scoring unprotected keys over all heads together, so a head
 *    whose attention concentrates on few keys keeps few and a head that spreads its attention keeps
 *    many (Ada-KV's allocation: for a fixed total, keeping the globally highest accumulated masses
 *    maximises the attention mass retained, summed over heads). Every head gets the same number of
 *    query rows per call, so the scores of different heads are on one scale. A head never keeps
 *    more than maxPerHead keys (its lowest go first).
 */
import type { CacheConfig } from './options.js';
import type { SlotStore } from './store.js';

/** Max-heap of (score, position, head, slot) keeping the `limit` smallest entries seen. */
class LowestK {
  private readonly score: Float64Array;
  private readonly pos: Float64Array;
  private readonly item: Int32Array;
  size = 0;
  constructor(readonly limit: number) {
    this.score = new Float64Array(limit);
    this.pos = new Float64Array(limit);
    this.item = new Int32Array(2 * limit);
  }
  /** a after b in eviction order: higher score, or equal score and newer */
  private above(i: number, j: number): boolean {
    return this.score[i] > this.score[j] || (this.score[i] === this.score[j] && this.pos[i] > this.pos[j]);
  }
  private swap(i: number, j: number): void {
    [this.score[i], this.score[j]] = [this.score[j], this.score[i]];
    [this.pos[i], this.pos[j]] = [this.pos[j], this.pos[i]];
    [this.item[2 * i], this.item[2 * j]] = [this.item[2 * j], this.item[2 * i]];
    [this.item[2 * i + 1], this.item[2 * j + 1]] = [this.item[2 * j + 1], this.item[2 * i + 1]];
  }
  offer(score: number, pos: number, head: number, slot: number): void {
    if (this.limit === 0) return;
    let i: number;
    if (this.size < this.limit) {
      i = this.size++;
    } else {
      // replace the root (the largest kept) if the offer comes before it
      if (!(score < this.score[0] || (score === this.score[0] && pos < this.pos[0]))) return;
      i = 0;
      this.score[0] = score;
      this.pos[0] = pos;
      this.item[0] = head;
      this.item[1] = slot;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.size && this.above(l, m)) m = l;
        if (r < this.size && this.above(r, m)) m = r;
        if (m === i) return;
        this.swap(i, m);
        i = m;
      }
    }
    this.score[i] = score;
    this.pos[i] = pos;
    this.item[2 * i] = head;
    this.item[2 * i + 1] = slot;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  /** Calls f for every entry, by head and then by descending slot (see SlotStore.release). */
  forEach(f: (head: number, slot: number) => void): void {
    const order = Array.from({ length: this.size }, (_, i) => i);
    order.sort((a, b) => this.item[2 * a] - this.item[2 * b] || this.item[2 * b + 1] - this.item[2 * a + 1]);
    for (const i of order) f(this.item[2 * i], this.item[2 * i + 1]);
  }
}

export type ReleaseFn = (head: number, slot: number) => void;

export class Evictor {
  /** accumulated attention mass per [kvHead][slot] (h2o, adaptive) */
  scores: Float64Array | null;
  /** FIFO rings of evictable slots per kv head (window, streaming) */
  private ring: Int32Array | null;
  private readonly ringStart: Int32Array;
  private readonly ringLen: Int32Array;

  constructor(
    readonly config: CacheConfig,
    private readonly store: SlotStore,
  ) {
    const H = config.kvHeads;
    const fifo = config.policy === 'window' || config.policy === 'streaming';
    this.scores = fifo ? null : new Float64Array(H * store.capacity);
    this.ring = fifo ? new Int32Array(H * store.capacity) : null;
    this.ringStart = new Int32Array(H);
    this.ringLen = new Int32Array(H);
  }

  /** whether the policy reads attention mass */
  get needsKeyMass(): boolean {
    return this.scores !== null;
  }

  /** The key of slot `from` of kv head h moved to slot `to` (compact storage). */
  onMove(h: number, from: number, to: number): void {
    const cap = this.store.capacity;
    if (this.scores !== null) this.scores[h * cap + to] = this.scores[h * cap + from];
  }

  /** Records a key just stored in slot s of kv head h at `position`. */
  onTake(h: number, s: number, position: number): void {
    const cap = this.store.capacity;
    if (this.scores !== null) {
      this.scores[h * cap + s] = 0;
      return;
    }
    if (this.config.policy === 'streaming' && position < this.config.sinks) return; // never evicted
    const ring = this.ring!;
    ring[h * cap + ((this.ringStart[h] + this.ringLen[h]) % cap)] = s;
    this.ringLen[h]++;
  }

  /** Forgets the last `count` keys recorded for kv head h, at positions start, start + 1, … (a failed call). */
  undoTakes(h: number, count: number, start: number): void {
    if (this.ring === null) return;
    for (let t = 0; t < count; t++) {
      if (this.config.policy === 'streaming' && start + t < this.config.sinks) continue;
      this.ringLen[h]--;
    }
  }

  /** Re-lays the per-slot state after the store grew from `oldCap` slots per head. */
  onGrow(oldCap: number): void {
    const cap = this.store.capacity;
    const H = this.config.kvHeads;
    if (this.scores !== null) {
      const s = new Float64Array(H * cap);
      for (let h = 0; h < H; h++) s.set(this.scores.subarray(h * oldCap, (h + 1) * oldCap), h * cap);
      this.scores = s;
    }
    if (this.ring !== null) {
      const r = new Int32Array(H * cap);
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < this.ringLen[h]; i++) r[h * cap + i] = this.ring[h * oldCap + ((this.ringStart[h] + i) % oldCap)];
        this.ringStart[h] = 0;
      }
      this.ring = r;
    }
  }

  /** Adds one call's key masses ([batch][kvHeads][capacity], slot order) to the scores. */
  accumulate(keyMass: Float32Array): void {
    const scores = this.scores;
    if (scores === null) return;
    const { batch: B, kvHeads: H } = this.config;
    const cap = this.store.capacity;
    const pos = this.store.pos;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const n = this.store.compact ? this.store.kept[h] : cap;
        for (let x = h * cap, end = h * cap + n, m = b * H * cap + h * cap; x < end; x++, m++) if (pos[x] >= 0) scores[x] += keyMass[m];
      }
    }
  }

  /** Evicts down to the budgets after `seen` positions, calling `release` for each slot freed. */
  evict(seen: number, budgets: Int32Array, release: ReleaseFn): void {
    const { kvHeads: H, policy } = this.config;
    const kept = this.store.kept;
    if (this.ring !== null) {
      const cap = this.store.capacity;
      for (let h = 0; h < H; h++) {
        while (kept[h] > budgets[h] && this.ringLen[h] > 0) {
          const s = this.ring[h * cap + this.ringStart[h]];
          this.ringStart[h] = (this.ringStart[h] + 1) % cap;
          this.ringLen[h]--;
          release(h, s);
        }
      }
      return;
    }
    if (policy === 'h2o') {
      for (let h = 0; h < H; h++) {
        const extra = kept[h] - budgets[h];
        if (extra > 0) this.evictLowest([h], extra, seen, release);
      }
      return;
    }
    // adaptive: one total over all heads, then each head's cap
    let total = 0;
    for (let h = 0; h < H; h++) total += kept[h];
    const all = Array.from({ length: H }, (_, h) => h);
    if (total > this.config.total) this.evictLowest(all, total - this.config.total, seen, release);
    for (let h = 0; h < H; h++) {
      const extra = kept[h] - this.config.maxPerHead;
      if (extra > 0) this.evictLowest([h], extra, seen, release);
    }
    for (let h = 0; h < H; h++) budgets[h] = kept[h];
  }

  /**
   * Frees the `count` lowest-scoring unprotected keys over `heads` (fewer if fewer are unprotected):
   * one scan of the kept keys (compact storage: slots [0, kept)), with a bounded heap, or a plain
   * minimum for one key (a decode step).
   */
  private evictLowest(heads: number[], count: number, seen: number, release: ReleaseFn): void {
    const { sinks, recent } = this.config;
    const cap = this.store.capacity;
    const pos = this.store.pos;
    const kept = this.store.kept;
    const scores = this.scores!;
    const newest = seen - recent; // positions ≥ newest are protected
    if (count === 1) {
      let bh = -1;
      let bs = -1;
      let best = Infinity;
      let bestPos = Infinity;
      for (const h of heads) {
        const n = this.store.compact ? kept[h] : cap;
        for (let s = 0, at = h * cap; s < n; s++, at++) {
          const p = pos[at];
          if (p < sinks || p >= newest) continue; // free (−1), sink or recent
          const x = scores[at];
          if (x < best || (x === best && p < bestPos) || bh < 0) {
            best = x;
            bestPos = p;
            bh = h;
            bs = s;
          }
        }
      }
      if (bh >= 0) release(bh, bs);
      return;
    }
    const heap = new LowestK(count);
    for (const h of heads) {
      const n = this.store.compact ? kept[h] : cap;
      for (let s = 0, at = h * cap; s < n; s++, at++) {
        const p = pos[at];
        if (p < sinks || p >= newest) continue;
        heap.offer(scores[at], p, h, s);
      }
    }
    heap.forEach(release);
  }
}
