// The parts of a CPU attention plan that follow from the resolved call alone: no allocation, no
// threads, no standard library beyond <cmath>. planCall (plan.cpp) and the WebAssembly build
// (native/wasm/attention.cpp, which keeps the RoPE tables in its call arena and builds them on its
// workers) both complete a Plan with these, so both read operands and build tables the same way.
//
// float32 K/V with unit headDim stride are read in place (the S^T = K Q^T formulation needs no
// transposed copy); 16-bit K/V, RoPE on K and other layouts are converted as the kernel reads
// them, into per-thread scratch. When every K/V tile is used by a single item (one query tile:
// decoding), K/V stream from memory once and a sequential copy is faster than the kernels'
// strided reads, so they are always copied.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernel.h"

namespace attnflow {
namespace cpu {

// Without explicit positions the RoPE tables cover [ropeLow, ropeHigh): keys sit at [0, Sk),
// queries at [shift, shift + Sq) (shift is negative when bottom-right alignment puts queries before
// the first key, past Sk when top-left alignment has more queries than keys).
inline int64_t ropeLow(int64_t shift) { return shift < 0 ? shift : 0; }
inline int64_t ropeHigh(const Plan& P) { return P.shift + P.Sq > P.Sk ? P.shift + P.Sq : P.Sk; }

// Completes `P` (the resolved call, with P.rope set) for a kernel of `lanes` lanes: the head
// dimension's padding, the query scale, and whether K and V tiles are read in place.
inline void finishPlan(Plan& P, int lanes) {
  P.lanes = lanes;
  P.Dp = (P.D + lanes - 1) / lanes * lanes;
  // The query tile is scaled once as it is packed; with a softcap the scale must come before the
  // tanh and log2(e) after it.
  P.qScale = P.softcap ? P.scale : P.scaleLog2;
  P.kDirect = P.k.dtype == DType::F32 && !P.rope && P.k.sd == 1;
  P.vDirect = P.v.dtype == DType::F32 && P.v.sd == 1 && P.D % lanes == 0;
  P.kvStream = P.numQBlocks <= 1;  // decoding: see above
  if (P.kvStream) P.kDirect = P.vDirect = false;
}

// RoPE tables hold cos/sin of (pos + offset) * base^(-2t/dims) for t < dims/2, as float32
// [pos - ropeLow][t]. Angles and rotations are in float64: each block of kRopeBlock positions
// takes the exact sincos of its first angle and steps by the angle-addition formula.
constexpr int kRopeBlock = 64;

inline double ropeInvFreq(float base, int dims, int t) { return std::pow(static_cast<double>(base), -2.0 * t / dims); }

// The steps of frequency `inv`: cos and sin of r * inv for r < kRopeBlock, at [r * stride].
inline void ropeSteps(double inv, double* stepC, double* stepS, size_t stride) {
  for (int r = 0; r < kRopeBlock; ++r) {
    stepC[r * stride] = std::cos(r * inv);
    stepS[r * stride] = std::sin(r * inv);
  }
}

// Frequency `inv` at the `count` (<= kRopeBlock) positions from p0: cosT[r * stride] and
// sinT[r * stride] for position p0 + r, from the steps of ropeSteps (at [r * stepStride]).
inline void ropeBlock(double inv, int64_t p0, int32_t offset, int64_t count, const double* stepC, const double* stepS,
                      size_t stepStride, float* cosT, float* sinT, size_t stride) {
  const double a0 = static_cast<double>(p0 + offset) * inv;
  const double c0 = std::cos(a0), s0 = std::sin(a0);
  for (int64_t r = 0; r < count; ++r) {
    const double cr = stepC[r * stepStride], sr = stepS[r * stepStride];
    cosT[r * stride] = static_cast<float>(c0 * cr - s0 * sr);
    sinT[r * stride] = static_cast<float>(s0 * cr + c0 * sr);
  }
}

// Explicit positions (Plan::qpos / kpos): the tables hold one row per position in use. When the
// positions span little more than their count, the rows are the dense range [lo, hi] (row = pos -
// lo, built by ropeBlock); otherwise (a cache that kept keys spread over a long sequence) a row
// per position, each from its own sincos (ropeAt). The range and count of the positions in use:
// every query's, and every non-empty key slot's of every kv head.
struct RopeSpan {
  int64_t lo, hi, count;
  bool dense() const { return count == 0 || hi - lo + 1 <= 4 * count + 64; }
};
inline RopeSpan ropeSpan(const core::AttentionCall& P) {
  RopeSpan s{INT64_MAX, INT64_MIN, 0};
  auto take = [&s](int64_t pos) {
    s.lo = pos < s.lo ? pos : s.lo;
    s.hi = pos > s.hi ? pos : s.hi;
    ++s.count;
  };
  for (int64_t i = 0; i < P.Sq; ++i) take(core::queryPosition(P, i));
  for (int64_t hk = 0; hk < P.Hkv; ++hk)
    for (int64_t j = 0; j < P.Sk; ++j)
      if (core::keyPosition(P, hk, j) >= 0) take(core::keyPosition(P, hk, j));
  return s;
}

// cos and sin of (pos + offset) * inv on their own (a row of the sparse tables).
inline void ropeAt(double inv, int64_t pos, int32_t offset, float* cosT, float* sinT) {
  const double a = (static_cast<double>(pos) + offset) * inv;
  *cosT = static_cast<float>(std::cos(a));
  *sinT = static_cast<float>(std::sin(a));
}

}  // namespace cpu
}  // namespace attnflow
