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
  const RopeSpan span = ropeSpan(P);  // plan_rules.h: the rule the WebAssembly build shares
  const int64_t lo = span.lo, hi = span.hi;
  if (span.dense()) {
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
  for (int t = 0; t < half; ++t) inv[t] = ropeInvFreq(rope.base, rope.dims, t);
  auto body = [&](size_t blk) {
    for (size_t r = blk * 64; r < std::min(all.size(), blk * 64 + 64); ++r)
      for (int t = 0; t < half; ++t) ropeAt(inv[t], all[r], rope.offset, &cosT[r * half + t], &sinT[r * half + t]);
  };
  pool.parallelFor((all.size() + 63) / 64, body);
  auto row = [&](int64_t pos) { return static_cast<int32_t>(std::lower_bound(all.begin(), all.end(), pos) - all.begin()); };
  for (int64_t i = 0; i < P.Sq; ++i) rowQ[i] = row(core::queryPosition(P, i));
  for (int64_t x = 0; x < nk; ++x) rowK[x] = keyPos(x) >= 0 ? row(keyPos(x)) : -1;
}

// The partial tiles' masks transposed once per call (Plan::bitsT), unless that copy would be
// large: each then transposes its tile per use, as before.
constexpr size_t kMaxTransposedTiles = 16384;  // 8 MiB

void transposePartialTiles(const BlockMaskView& mask, ThreadPool& pool, std::vector<uint64_t>& bitsT) {
  const size_t tileWords = static_cast<size_t>(kBQ) * mask.wordsPerRow;
  const size_t tiles = tileWords ? mask.bitsLen / tileWords : 0;
  if (tiles == 0 || tiles > kMaxTransposedTiles) return;
  bitsT.resize(tiles * kBK);
  auto body = [&](size_t blk) {
    for (size_t t = blk * 64; t < std::min(tiles, blk * 64 + 64); ++t)
      transposeMask(mask.bits + t * tileWords, kBQ, kBQ, &bitsT[t * kBK]);
  };
  pool.parallelFor((tiles + 63) / 64, body);
}

// float32 K rotated (RoPE) and float32 V in other layouts, copied once per call when every key
// tile is read by several query tiles: the items then read the copy in place, where each would
// otherwise rotate or gather every tile it visits again. O(seqK x headDim) memory, bounded; past
// the bound (or with few query tiles) the items work tile by tile. 16-bit K/V are not copied:
// the kernels convert them as they read them, into each thread's scratch, never into a float32
// copy of the tensor (that would double their memory).
constexpr int kConvertMinQueryTiles = 4;
constexpr size_t kConvertMaxBytes = size_t{128} << 20;

OperandPlan convertedOperand(const std::vector<float>& rows, const Plan& P) {
  const int64_t ss = P.Dp, sh = static_cast<int64_t>(P.Sk) * P.Dp;
  return OperandPlan{rows.data(), DType::F32, sh * P.Hkv, sh, ss, 1};
}

void convertKeysAndValues(const AttentionKernel& kernel, ThreadPool& pool, Plan& P, PlanBuffers& buffers) {
  const bool k = !P.kDirect && P.k.dtype == DType::F32, v = !P.vDirect && P.v.dtype == DType::F32;
  if ((!k && !v) || P.bf16Dot || P.numQBlocks < kConvertMinQueryTiles) return;
  const size_t rowFloats = static_cast<size_t>(P.B) * P.Hkv * P.Sk * P.Dp;
  if (rowFloats * sizeof(float) * (k + v) > kConvertMaxBytes) return;
  if (k) buffers.kConverted.resize(rowFloats);
  if (v) buffers.vConverted.resize(rowFloats);
  const int64_t tilesPerHead = P.numKBlocks;
  auto body = [&](size_t x) {
    const int64_t head = static_cast<int64_t>(x) / tilesPerHead;  // b * Hkv + hk
    const int kt = static_cast<int>(static_cast<int64_t>(x) % tilesPerHead);
    const size_t at = (static_cast<size_t>(head) * P.Sk + static_cast<size_t>(kt) * kBK) * P.Dp;
    kernel.convertTile(P, static_cast<int>(head / P.Hkv), static_cast<int>(head % P.Hkv), kt,
                       k ? &buffers.kConverted[at] : nullptr, v ? &buffers.vConverted[at] : nullptr);
  };
  pool.parallelFor(static_cast<size_t>(P.B) * P.Hkv * tilesPerHead, body);
  // From here on the items read the copies in place: the rotation is in K's copy already.
  if (k) P.k = convertedOperand(buffers.kConverted, P), P.kDirect = true;
  if (v) P.v = convertedOperand(buffers.vConverted, P), P.vDirect = true;
}

}  // namespace

void planCall(const AttentionParams& p, const AttentionKernel& kernel, ThreadPool& pool, Plan& P,
              PlanBuffers& buffers) {
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
      P.ropeLo = ropeLow(P.shift);
      buildRopeTable(p.rope, P.ropeLo, ropeHigh(P), buffers.ropeCos, buffers.ropeSin, pool);
    }
    P.ropeCos = buffers.ropeCos.data();
    P.ropeSin = buffers.ropeSin.data();
  }
  finishPlan(P, kernel.lanes);
  if (p.mask.bitsLen > 0) {
    if (P.Sq >= kBQ) transposePartialTiles(p.mask, pool, buffers.bitsT);
    if (!buffers.bitsT.empty()) P.bitsT = buffers.bitsT.data();
    buffers.vFinite.assign(static_cast<size_t>(P.B) * P.Hkv * P.numKBlocks, 0);
    P.vFinite = buffers.vFinite.data();
  }
  P.bf16Dot = kernel.bf16Dot && P.q.dtype == DType::BF16 && P.k.dtype == DType::BF16 && P.v.dtype == DType::BF16 &&
              !P.rope && P.D % 2 == 0 && P.k.sd == 1 && P.v.sd == 1;
  convertKeysAndValues(kernel, pool, P, buffers);
}

}  // namespace cpu
}  // namespace attnflow
