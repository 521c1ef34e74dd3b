// Positions and RoPE rows of a call in the WebAssembly build (positions.h).
#include "positions.h"

#include "plan_rules.h"

namespace attnflow {
namespace calls {

cpu::Plan positionsPlan(const AttentionCall& c, const uint8_t* arena) {
  cpu::Plan P{};
  P.B = c.B;
  P.Hq = c.Hq;
  P.Hkv = c.Hkv;
  P.Sq = c.Sq;
  P.Sk = c.Sk;
  P.D = c.D;
  P.shift = c.shift;
  P.qpos = c.qpos ? reinterpret_cast<const int32_t*>(arena + c.qpos) : nullptr;
  P.kpos = c.kpos ? reinterpret_cast<const int32_t*>(arena + c.kpos) : nullptr;
  P.kposStride = c.kposStride;
  return P;
}

namespace {

bool explicitPositions(const cpu::Plan& P) { return P.qpos || P.kpos; }

// Key rows of the sparse tables: one list of Sk slots shared by every kv head, or one per head.
int64_t sparseKeyRows(const cpu::Plan& P) { return (P.kposStride ? static_cast<int64_t>(P.Hkv) : 1) * P.Sk; }

}  // namespace

int64_t ropeTableRows(const cpu::Plan& P) {
  if (!explicitPositions(P)) return cpu::ropeHigh(P) - cpu::ropeLow(P.shift);
  const cpu::RopeSpan s = cpu::ropeSpan(P);
  if (s.count == 0) return 0;
  return s.dense() ? s.hi - s.lo + 1 : P.Sq + sparseKeyRows(P);
}

void fillRopeRows(const cpu::Plan& P, int32_t* rowQ, int32_t* rowK) {
  const cpu::RopeSpan s = cpu::ropeSpan(P);
  const bool dense = s.dense();
  for (int64_t i = 0; i < P.Sq; ++i) rowQ[i] = static_cast<int32_t>(dense ? core::queryPosition(P, i) - s.lo : i);
  for (int64_t hk = 0; hk < P.Hkv; ++hk)
    for (int64_t j = 0; j < P.Sk; ++j) {
      const int64_t pos = core::keyPosition(P, hk, j);
      const int64_t slot = P.kposStride ? hk * P.Sk + j : j;
      rowK[hk * P.Sk + j] = pos < 0 ? -1 : static_cast<int32_t>(dense ? pos - s.lo : P.Sq + slot);
    }
}

void ropeColumn(const cpu::Plan& P, float ropeBase, int32_t ropeOffset, float* cosT, float* sinT, int t) {
  const size_t half = static_cast<size_t>(P.ropeDims / 2);
  const double inv = cpu::ropeInvFreq(ropeBase, P.ropeDims, t);
  cosT += t;
  sinT += t;
  int64_t lo = 0, hi = 0;  // the dense range [lo, hi)
  if (!explicitPositions(P)) {
    lo = cpu::ropeLow(P.shift);
    hi = cpu::ropeHigh(P);
  } else {
    const cpu::RopeSpan s = cpu::ropeSpan(P);
    if (!s.dense()) {
      for (int64_t i = 0; i < P.Sq; ++i)
        cpu::ropeAt(inv, core::queryPosition(P, i), ropeOffset, cosT + i * half, sinT + i * half);
      for (int64_t x = 0; x < sparseKeyRows(P); ++x) {
        const int64_t pos = core::keyPosition(P, x / P.Sk, x % P.Sk);
        const size_t at = static_cast<size_t>(P.Sq + x) * half;
        if (pos >= 0) cpu::ropeAt(inv, pos, ropeOffset, cosT + at, sinT + at);
      }
      return;
    }
    lo = s.lo;
    hi = s.hi + 1;
  }
  double stepC[cpu::kRopeBlock], stepS[cpu::kRopeBlock];
  cpu::ropeSteps(inv, stepC, stepS, 1);
  for (int64_t p0 = lo; p0 < hi; p0 += cpu::kRopeBlock) {
    const int64_t count = hi - p0 < cpu::kRopeBlock ? hi - p0 : cpu::kRopeBlock;
    const size_t at = static_cast<size_t>(p0 - lo) * half;
    cpu::ropeBlock(inv, p0, ropeOffset, count, stepC, stepS, 1, cosT + at, sinT + at, half);
  }
}

}  // namespace calls
}  // namespace attnflow
