// The plan of a CPU attention call (planCall) and the per-thread scratch layout of the kernels.
//
// float32 K/V with unit headDim stride are read in place (the S^T = K Q^T formulation needs no
// transposed copy); 16-bit K/V, RoPE on K and other layouts are converted tile by tile into
// per-thread scratch. When every K/V tile is used by a single item (one query tile: decoding),
// K/V stream from memory once and a sequential copy is faster than the kernels' strided reads,
// so they are always copied. Nothing is sized by seqQ x seqK: the RoPE table is O(seqK x dims).
#include "plan.h"

#include <algorithm>
#include <cmath>

namespace attnflow {
namespace cpu {

namespace {

// Scratch buffers start on 64-byte boundaries (whole cache lines; aligned for any vector width).
size_t round16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }

// cos/sin of (pos + offset) * base^(-2t/dims) for pos in [lo, hi), t < dims/2, as float32 tables
// [pos - lo][t]. Angles and rotations are in float64: each block of 64 positions takes the exact
// sincos of its first angle and steps by the angle-addition formula.
void buildRopeTable(const RopeParams& rope, int64_t lo, int64_t hi, std::vector<float>& cosT,
                    std::vector<float>& sinT, ThreadPool& pool) {
  const int half = rope.dims / 2;
  const int64_t n = hi - lo;
  cosT.assign(static_cast<size_t>(n) * half, 0.f);
  sinT.assign(static_cast<size_t>(n) * half, 0.f);
  std::vector<double> inv(half), stepC(static_cast<size_t>(64) * half), stepS(static_cast<size_t>(64) * half);
  for (int t = 0; t < half; ++t) inv[t] = std::pow(static_cast<double>(rope.base), -2.0 * t / rope.dims);
  for (int r = 0; r < 64; ++r)
    for (int t = 0; t < half; ++t) {
      stepC[r * half + t] = std::cos(r * inv[t]);
      stepS[r * half + t] = std::sin(r * inv[t]);
    }
  const size_t blocks = static_cast<size_t>((n + 63) / 64);
  auto body = [&](size_t blk) {
    const int64_t p0 = lo + static_cast<int64_t>(blk) * 64;
    const int64_t cnt = std::min<int64_t>(64, hi - p0);
    for (int t = 0; t < half; ++t) {
      const double a0 = static_cast<double>(p0 + rope.offset) * inv[t];
      const double c0 = std::cos(a0), s0 = std::sin(a0);
      for (int64_t r = 0; r < cnt; ++r) {
        const double cr = stepC[r * half + t], sr = stepS[r * half + t];
        const size_t at = static_cast<size_t>(p0 - lo + r) * half + t;
        cosT[at] = static_cast<float>(c0 * cr - s0 * sr);
        sinT[at] = static_cast<float>(s0 * cr + c0 * sr);
      }
    }
  };
  pool.parallelFor(blocks, body);
}

// RoPE tables for explicit positions: one row per position in use. When the positions span little
// more than their count, the rows are the dense range [lo, hi] (row = pos - lo); otherwise (a cache
// that kept keys spread over a long sequence) one row per distinct position, each from its own
// sincos. Row indices per query and per key slot go to rowQ / rowK (-1 for an empty key slot).
void ropeRows(const RopeParams& rope, const Plan& P, std::vector<float>& cosT, std::vector<float>& sinT,
              std::vector<int32_t>& rowQ, std::vector<int32_t>& rowK, ThreadPool& pool) {
  const int64_t nk = static_cast<int64_t>(P.Hkv) * P.Sk;
  auto keyPos = [&](int64_t x) { return core::keyPosition(P, x / P.Sk, x % P.Sk); };  // x = hk * Sk + j
  std::vector<int64_t> all;
  all.reserve(static_cast<size_t>(P.Sq + nk));
  for (int64_t i = 0; i < P.Sq; ++i) all.push_back(core::queryPosition(P, i));
  for (int64_t x = 0; x < nk; ++x)
    if (keyPos(x) >= 0) all.push_back(keyPos(x));
  rowQ.resize(static_cast<size_t>(P.Sq));
  rowK.resize(static_cast<size_t>(nk));
  const int64_t lo = *std::min_element(all.begin(), all.end());
  const int64_t hi = *std::max_element(all.begin(), all.end());
  if (hi - lo + 1 <= 4 * static_cast<int64_t>(all.size()) + 64) {
    buildRopeTable(rope, lo, hi + 1, cosT, sinT, pool);
    for (int64_t i = 0; i < P.Sq; ++i) rowQ[i] = static_cast<int32_t>(core::queryPosition(P, i) - lo);
    for (int64_t x = 0; x < nk; ++x) rowK[x] = keyPos(x) >= 0 ? static_cast<int32_t>(keyPos(x) - lo) : -1;
    return;
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  const int half = rope.dims / 2;
  cosT.assign(all.size() * half, 0.f);
  sinT.assign(all.size() * half, 0.f);
  std::vector<double> inv(half);
  for (int t = 0; t < half; ++t) inv[t] = std::pow(static_cast<double>(rope.base), -2.0 * t / rope.dims);
  auto body = [&](size_t blk) {
    for (size_t r = blk * 64; r < std::min(all.size(), blk * 64 + 64); ++r)
      for (int t = 0; t < half; ++t) {
        const double a = (static_cast<double>(all[r]) + rope.offset) * inv[t];
        cosT[r * half + t] = static_cast<float>(std::cos(a));
        sinT[r * half + t] = static_cast<float>(std::sin(a));
      }
  };
  pool.parallelFor((all.size() + 63) / 64, body);
  auto row = [&](int64_t pos) { return static_cast<int32_t>(std::lower_bound(all.begin(), all.end(), pos) - all.begin()); };
  for (int64_t i = 0; i < P.Sq; ++i) rowQ[i] = row(core::queryPosition(P, i));
  for (int64_t x = 0; x < nk; ++x) rowK[x] = keyPos(x) >= 0 ? row(keyPos(x)) : -1;
}

}  // namespace

size_t scratchFloats(int D, int Dp) {
  const size_t DpA = round16(static_cast<size_t>(Dp));
  return round16(static_cast<size_t>(D) * kBQ) + round16(static_cast<size_t>(kBK) * kBQ) + kBQ * DpA + 3 * kBQ +
         2 * kBK * DpA + DpA + 16 + kBK / 2 * kBQ;
}

Scratch carveScratch(float* base, int D, int Dp) {
  const size_t DpA = round16(static_cast<size_t>(Dp));  // segment sizes: every segment starts on a cache line
  Scratch s;
  float* p = base;
  s.qT = p;
  p += round16(static_cast<size_t>(D) * kBQ);
  s.sT = p;
  p += round16(static_cast<size_t>(kBK) * kBQ);
  s.o = p;
  p += kBQ * DpA;
  s.m = p;
  p += kBQ;
  s.l = p;
  p += kBQ;
  s.alpha = p;
  p += kBQ;
  s.kBuf = p;
  p += kBK * DpA;
  s.vBuf = p;
  p += kBK * DpA;
  s.row = p;
  p += DpA;
  s.p2 = p;
  s.mass = nullptr;
  return s;
}

void planCall(const AttentionParams& p, const AttentionKernel& kernel, ThreadPool& pool, Plan& P,
              PlanBuffers& buffers) {
  const int lanes = kernel.lanes;
  P.lanes = lanes;
  P.Dp = (P.D + lanes - 1) / lanes * lanes;
  // The query tile is scaled once as it is packed; with a softcap the scale must come before the
  // tanh and log2(e) after it.
  P.qScale = P.softcap ? P.scale : P.scaleLog2;
  if (p.alibiSlopes) {
    buffers.alibi2.resize(static_cast<size_t>(P.Hq));
    core::alibiLog2(p, P.Hq, buffers.alibi2.data());
    P.alibi2 = buffers.alibi2.data();
  }
  P.rope = p.rope.enabled;
  if (P.rope) {
    P.ropeInterleaved = p.rope.interleaved;
    P.ropeDims = p.rope.dims;
    if (P.qpos || P.kpos) {
      ropeRows(p.rope, P, buffers.ropeCos, buffers.ropeSin, buffers.ropeRowQ, buffers.ropeRowK, pool);
      P.ropeRowQ = buffers.ropeRowQ.data();
      P.ropeRowK = buffers.ropeRowK.data();
    } else {
      // queries sit at [shift, shift + Sq) (past Sk when aligned top-left with Sq > Sk), keys at [0, Sk)
      P.ropeLo = std::min<int64_t>(0, P.shift);
      buildRopeTable(p.rope, P.ropeLo, std::max<int64_t>(P.Sk, P.shift + P.Sq), buffers.ropeCos, buffers.ropeSin, pool);
    }
    P.ropeCos = buffers.ropeCos.data();
    P.ropeSin = buffers.ropeSin.data();
  }
  P.kDirect = P.k.dtype == DType::F32 && !P.rope && P.k.sd == 1;
  P.vDirect = P.v.dtype == DType::F32 && P.v.sd == 1 && P.D % lanes == 0;
  if (P.numQBlocks <= 1) {
    // Each K/V tile is used by one item only (decoding): it streams from memory once, and a
    // sequential copy into scratch reads memory faster than the kernels' strided access.
    P.kDirect = P.vDirect = false;
  }
  P.bf16Dot = kernel.bf16Dot && P.q.dtype == DType::BF16 && P.k.dtype == DType::BF16 && P.v.dtype == DType::BF16 &&
              !P.rope && P.D % 2 == 0 && P.k.sd == 1 && P.v.sd == 1;
}

}  // namespace cpu
}  // namespace attnflow
