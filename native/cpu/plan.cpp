// The plan of a CPU attention call (planCall): the resolved call completed by plan_rules.h, with
// the ALiBi slopes and RoPE tables in memory of its own. Nothing is sized by seqQ x seqK: the RoPE
// table is O(seqK x dims).
#include "plan.h"

#include <algorithm>
#include <cmath>

#include "plan_rules.h"

namespace attnflow {
namespace cpu {

namespace {

// The RoPE tables of positions [lo, hi) (plan_rules.h), blocks of positions on `pool`.
void buildRopeTable(const RopeParams& rope, int64_t lo, int64_t hi, std::vector<float>& cosT,
                    std::vector<float>& sinT, ThreadPool& pool) {
  const int half = rope.dims / 2;
  const int64_t n = hi - lo;
  cosT.assign(static_cast<size_t>(n) * half, 0.f);
  sinT.assign(static_cast<size_t>(n) * half, 0.f);
  std::vector<double> inv(half), stepC(static_cast<size_t>(kRopeBlock) * half), stepS(static_cast<size_t>(kRopeBlock) * half);
  for (int t = 0; t < half; ++t) {
    inv[t] = ropeInvFreq(rope.base, rope.dims, t);
    ropeSteps(inv[t], &stepC[t], &stepS[t], half);
  }
  const size_t blocks = static_cast<size_t>((n + kRopeBlock - 1) / kRopeBlock);
  auto body = [&](size_t blk) {
    const int64_t p0 = lo + static_cast<int64_t>(blk) * kRopeBlock;
    const int64_t count = std::min<int64_t>(kRopeBlock, hi - p0);
    const size_t at = static_cast<size_t>(p0 - lo) * half;
    for (int t = 0; t < half; ++t)
      ropeBlock(inv[t], p0, rope.offset, count, &stepC[t], &stepS[t], half, &cosT[at + t], &sinT[at + t], half);
  };
  pool.parallelFor(blocks, body);
}

}  // namespace

void planCall(const AttentionParams& p, int lanes, ThreadPool& pool, Plan& P, PlanBuffers& buffers) {
  if (p.alibiSlopes) {
    buffers.alibi2.resize(static_cast<size_t>(P.Hq));
    core::alibiLog2(p, P.Hq, buffers.alibi2.data());
    P.alibi2 = buffers.alibi2.data();
  }
  P.rope = p.rope.enabled;
  if (P.rope) {
    P.ropeInterleaved = p.rope.interleaved;
    P.ropeDims = p.rope.dims;
    P.ropeLo = ropeLow(P.shift);
    buildRopeTable(p.rope, P.ropeLo, P.Sk, buffers.ropeCos, buffers.ropeSin, pool);
    P.ropeCos = buffers.ropeCos.data();
    P.ropeSin = buffers.ropeSin.data();
  }
  finishPlan(P, lanes);
}

}  // namespace cpu
}  // namespace attnflow
