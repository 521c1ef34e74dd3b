// scheduleItems: a CPU attention call cut into work items for the thread pool, and the order the
// threads take them in (schedule_cut.h).
#include <algorithm>

#include "plan.h"
#include "schedule_cut.h"

namespace attnflow {
namespace cpu {

namespace {

struct Collect {
  Schedule& s;
  void item(const Item& it) { s.items.push_back(it); }
  void split(const Item& first, int32_t parts) {
    s.merges.push_back(first);
    s.mergeCount.push_back(parts);
    s.slots += parts;
  }
};

}  // namespace

Schedule scheduleItems(const Plan& P, unsigned threads) {
  Schedule s;
  Collect collect{s};
  cut::cutItems(P, threads, collect);
  s.order.resize(s.items.size());
  for (size_t i = 0; i < s.order.size(); ++i) s.order[i] = static_cast<uint32_t>(i);
  std::stable_sort(s.order.begin(), s.order.end(),
                   [&](uint32_t a, uint32_t b) { return cut::takenBefore(P, s.items[a], s.items[b]); });
  cut::cutChains(
      P, s.order.size(), threads, [&](size_t k) -> const Item& { return s.items[s.order[k]]; },
      [&](size_t k) { s.chains.push_back(static_cast<uint32_t>(k)); });
  s.chains.push_back(static_cast<uint32_t>(s.order.size()));
  if (P.keyMass) {
    s.massOffset.reserve(static_cast<size_t>(s.slots));
    for (const Item& it : s.items)
      if (it.slot >= 0) {
        s.massOffset.push_back(s.massFloats);
        s.massFloats += static_cast<int64_t>(massItemFloats(P, it));
      }
  }
  return s;
}

}  // namespace cpu
}  // namespace attnflow
