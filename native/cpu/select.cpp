// cpuQuestSelect: validates the call, scores the candidate blocks (with the scorer of the CPU kernel
// in use, isa.h) and picks the best ones: the `blocks` highest scores among blocks flagged 1 (ties: the lower
// block first), plus every block flagged 2, in ascending order.
#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "attnflow.h"
#include "isa.h"
#include "select.h"

namespace attnflow {

Status cpuQuestSelect(const QuestSelectParams& p, int32_t* count) {
  try {
    *count = 0;
    if (p.rows < 0 || p.headDim < 1 || p.numBlocks < 0 || p.blocks < 0) return Status::Error("questSelect: negative sizes");
    const uint64_t D = static_cast<uint64_t>(p.headDim);
    if (p.qLen != static_cast<uint64_t>(p.rows) * D) return Status::Error("questSelect: q must hold rows * headDim values");
    if (p.boundsOffset < 0 || static_cast<uint64_t>(p.boundsOffset) + static_cast<uint64_t>(p.numBlocks) * D > p.boundsLen) {
      return Status::Error("questSelect: the bounds do not hold numBlocks * headDim values from boundsOffset");
    }
    if (p.flagsLen != static_cast<uint64_t>(p.numBlocks)) return Status::Error("questSelect: flags must hold one entry per block");
    if (p.outLen < static_cast<uint64_t>(p.numBlocks)) return Status::Error("questSelect: out must hold numBlocks entries");
    const cpu::CpuKernel* kernel = nullptr;
    Status st = cpu::activeKernel(&kernel);
    if (!st.ok) return st;
    std::vector<float> score(static_cast<size_t>(p.numBlocks));
    kernel->questScores(p, score.data());
    std::vector<int32_t> ranked;
    for (int32_t kb = 0; kb < p.numBlocks; ++kb)
      if (p.flags[kb] == 1) ranked.push_back(kb);
    const size_t keep = std::min<size_t>(ranked.size(), static_cast<size_t>(p.blocks));
    auto better = [&](int32_t a, int32_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); };
    if (keep < ranked.size()) std::nth_element(ranked.begin(), ranked.begin() + keep, ranked.end(), better);
    std::vector<uint8_t> chosen(static_cast<size_t>(p.numBlocks), 0);
    for (size_t i = 0; i < keep; ++i) chosen[ranked[i]] = 1;
    int32_t n = 0;
    for (int32_t kb = 0; kb < p.numBlocks; ++kb)
      if (p.flags[kb] == 2 || chosen[kb]) p.out[n++] = kb;
    *count = n;
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return Status::Error("questSelect: out of memory");
  }
}

}  // namespace attnflow
