// scheduleItems: how a CPU attention call is cut into work items and in which order threads take
// them.
//
// Work items are (batch, query head, query tile) rows of the BlockMask, grouped by (batch, kv
// head) so the threads share that head's K/V in cache, largest first within a group. For GQA with
// a shared mask and few queries (decoding), the heads of a group are packed into one item so each
// K/V tile is read once for all of them. When there are too few items to keep every thread busy
// (decoding: seqQ of 1..16 against a long KV, or small batches), a row's list of key tiles is
// split into chunks; each chunk produces a partial (unnormalised output, running max, sum) and a
// second pass merges them exactly through the log-sum-exp. Partial results exist only for split
// rows.
#include <algorithm>

#include "plan.h"

namespace attnflow {
namespace cpu {

namespace {

// Entries [e0, e1) of the mask row of (head h, query tile qb).
void rowRange(const Plan& P, int h, int qb, int32_t& e0, int32_t& e1) {
  const int64_t mr = core::maskRow(P, h, qb);
  e0 = P.rowPtr[mr];
  e1 = P.rowPtr[mr + 1];
}

// Key tiles visited by the whole call.
int64_t totalTiles(const Plan& P) {
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

}  // namespace

Schedule scheduleItems(const Plan& P, unsigned threads) {
  Schedule s;
  const int nqb = P.numQBlocks;
  const int ng = core::packedHeads(P, kBQ);
  const int64_t packedRows = static_cast<int64_t>(P.B) * P.Hkv * nqb * ((P.group + ng - 1) / ng);

  int64_t chunk = INT32_MAX;  // tiles per item
  if (threads > 1 && packedRows < 4 * static_cast<int64_t>(threads)) {
    constexpr int64_t kMinChunk = 4;
    chunk = std::max<int64_t>(kMinChunk, (totalTiles(P) / ng + 4 * threads - 1) / (4 * threads));
  }

  std::vector<int64_t> cost;
  s.items.reserve(static_cast<size_t>(packedRows));
  cost.reserve(static_cast<size_t>(packedRows));
  for (int b = 0; b < P.B; ++b)
    for (int hk = 0; hk < P.Hkv; ++hk)
      for (int qb = 0; qb < nqb; ++qb)
        for (int g = 0; g < P.group; g += ng) {
          const int h = hk * P.group + g;
          const int ngHere = std::min(ng, P.group - g);
          int32_t e0, e1;
          rowRange(P, h, qb, e0, e1);
          const int64_t n = e1 - e0;
          const int nq = std::min(kBQ, P.Sq - qb * kBQ) * ngHere;
          if (n <= chunk) {
            s.items.push_back(Item{b, h, qb, ngHere, e0, e1, -1});
            cost.push_back(n * (nq + 8) + 1);
            continue;
          }
          const int64_t parts = (n + chunk - 1) / chunk;
          s.merges.push_back(Item{b, h, qb, ngHere, e0, e1, s.slots});
          s.mergeCount.push_back(static_cast<int32_t>(parts));
          for (int64_t part = 0; part < parts; ++part) {
            const int32_t a = static_cast<int32_t>(e0 + n * part / parts);
            const int32_t z = static_cast<int32_t>(e0 + n * (part + 1) / parts);
            s.items.push_back(Item{b, h, qb, ngHere, a, z, s.slots++});
            cost.push_back((z - a) * (nq + 8) + 1);
          }
        }

  if (P.keyMass) {
    s.massOffset.reserve(static_cast<size_t>(s.slots));
    for (const Item& it : s.items)
      if (it.slot >= 0) {
        s.massOffset.push_back(s.massFloats);
        s.massFloats += static_cast<int64_t>(massItemFloats(P, it));
      }
  }

  // Items of one (batch, kv head) stay together, so the threads share its K/V in cache; within it
  // the largest go first (stable, so equal items keep their order: consecutive query tiles
  // share key tiles), which keeps the tail of the schedule short.
  s.order.resize(s.items.size());
  for (size_t i = 0; i < s.order.size(); ++i) s.order[i] = static_cast<uint32_t>(i);
  auto kvGroup = [&](uint32_t i) { return static_cast<int64_t>(s.items[i].b) * P.Hkv + s.items[i].h / P.group; };
  std::stable_sort(s.order.begin(), s.order.end(), [&](uint32_t a, uint32_t b) {
    const int64_t ga = kvGroup(a), gb = kvGroup(b);
    return ga != gb ? ga < gb : cost[a] > cost[b];
  });
  return s;
}

}  // namespace cpu
}  // namespace attnflow
