// How a CPU attention call is cut into work items and in which order threads take them, with no
// allocation and no standard library: schedule.cpp collects the items in vectors for the thread
// pool, the WebAssembly build (native/wasm/schedule.cpp) writes them into its call arena for its
// workers. Both cut and order a call the same way.
//
// Work items are (batch, query head, query tile) rows of the BlockMask, grouped by (batch, kv
// head) so the threads share that head's K/V in cache, largest first within a group. For GQA with
// a shared mask and few queries (decoding), the heads of a group are packed into one item so each
// K/V tile is read once for all of them. When there are too few items to keep every thread busy
// (decoding: seqQ of 1..16 against a long KV, or small batches), a row's list of key tiles is
// split into chunks; each chunk produces a partial (unnormalised output, running max, sum) and a
// second pass merges them exactly through the log-sum-exp. Partial results exist only for split
// rows.
#pragma once

#include <cstdint>

#include "kernel.h"

namespace attnflow {
namespace cpu {
namespace cut {

// Entries [e0, e1) of the mask row of (head h, query tile qb).
inline void rowRange(const Plan& P, int h, int qb, int32_t& e0, int32_t& e1) {
  const int64_t mr = core::maskRow(P, h, qb);
  e0 = P.rowPtr[mr];
  e1 = P.rowPtr[mr + 1];
}

// Key tiles visited by the whole call.
inline int64_t totalTiles(const Plan& P) {
  int64_t total = 0;
  const int headsPerRow = P.Hq / P.maskHeads;  // query heads that read one mask row
  for (int h = 0; h < P.Hq; h += headsPerRow)
    for (int qb = 0; qb < P.numQBlocks; ++qb) {
      int32_t e0, e1;
      rowRange(P, h, qb, e0, e1);
      total += e1 - e0;
    }
  return total * static_cast<int64_t>(P.B) * headsPerRow;
}

// The relative cost of an item: its key tiles times its query columns (plus a fixed part per tile
// and per item).
inline int64_t itemCost(const Plan& P, const Item& it) {
  const int rows = P.Sq - it.qb * kBQ < kBQ ? P.Sq - it.qb * kBQ : kBQ;
  return static_cast<int64_t>(it.e1 - it.e0) * (rows * it.ng + 8) + 1;
}

// Whether threads take item a before item b (a cut earlier than b): (batch, kv head) groups in
// order, so the threads share its K/V in cache; within one the costliest first, equal items in cut
// order (consecutive query tiles share key tiles), which keeps the tail of the schedule short.
inline bool takenBefore(const Plan& P, const Item& a, const Item& b) {
  const int64_t ga = static_cast<int64_t>(a.b) * P.Hkv + a.h / P.group;
  const int64_t gb = static_cast<int64_t>(b.b) * P.Hkv + b.h / P.group;
  return ga != gb ? ga < gb : itemCost(P, a) > itemCost(P, b);
}

// Chains: runs of consecutive items (in the order threads take them) that one thread runs in
// turn. Where items are small (a sliding window gives each query tile a handful of key tiles), a
// chain keeps the key/value tiles that consecutive query tiles share in one core's cache, and the
// thread knows the item it runs next, so it can prefetch that item's query rows. A chain grows
// within one (batch, kv head) group until it holds kChainTiles key tiles, while there are at
// least kChainsPerThread chains per thread.
constexpr int64_t kChainTiles = 32;
constexpr int64_t kChainsPerThread = 8;

// Calls chain(start) at the first position of each chain of `n` items taken in the order at(k).
template <class At, class Chain>
void cutChains(const Plan& P, size_t n, unsigned threads, At at, Chain chain) {
  const size_t perThread = static_cast<size_t>(kChainsPerThread) * (threads ? threads : 1);
  const size_t maxItems = n / perThread > 1 ? n / perThread : 1;
  for (size_t k = 0; k < n;) {
    chain(k);
    const Item& first = at(k);
    const int64_t group = static_cast<int64_t>(first.b) * P.Hkv + first.h / P.group;
    int64_t tiles = 0;
    size_t items = 0;
    do {
      tiles += at(k).e1 - at(k).e0;
      ++items, ++k;
    } while (k < n && tiles < kChainTiles && items < maxItems &&
             static_cast<int64_t>(at(k).b) * P.Hkv + at(k).h / P.group == group);
  }
}

// Cuts the call for `threads` threads: sink.item(Item) for each work item, in cut order, and
// sink.split(first, parts) for each split row (its first item, before the items of its parts).
template <class Sink>
void cutItems(const Plan& P, unsigned threads, Sink& sink) {
  const int nqb = P.numQBlocks;
  const int ng = core::packedHeads(P, kBQ);
  const int64_t packedRows = static_cast<int64_t>(P.B) * P.Hkv * nqb * ((P.group + ng - 1) / ng);

  int64_t chunk = INT32_MAX;  // tiles per item
  if (threads > 1 && packedRows < 4 * static_cast<int64_t>(threads)) {
    constexpr int64_t kMinChunk = 4;
    const int64_t even = (totalTiles(P) / ng + 4 * threads - 1) / (4 * threads);
    chunk = even > kMinChunk ? even : kMinChunk;
  }

  int32_t slots = 0;
  for (int b = 0; b < P.B; ++b)
    for (int hk = 0; hk < P.Hkv; ++hk)
      for (int qb = 0; qb < nqb; ++qb)
        for (int g = 0; g < P.group; g += ng) {
          const int h = hk * P.group + g;
          const int ngHere = ng < P.group - g ? ng : P.group - g;
          int32_t e0, e1;
          rowRange(P, h, qb, e0, e1);
          const int64_t n = e1 - e0;
          if (n <= chunk) {
            sink.item(Item{b, h, qb, ngHere, e0, e1, -1});
            continue;
          }
          const int64_t parts = (n + chunk - 1) / chunk;
          sink.split(Item{b, h, qb, ngHere, e0, e1, slots}, static_cast<int32_t>(parts));
          for (int64_t part = 0; part < parts; ++part) {
            const int32_t a = static_cast<int32_t>(e0 + n * part / parts);
            const int32_t z = static_cast<int32_t>(e0 + n * (part + 1) / parts);
            sink.item(Item{b, h, qb, ngHere, a, z, slots++});
          }
        }
}

}  // namespace cut
}  // namespace cpu
}  // namespace attnflow
