// Key masses of the general kernel (AttentionCall::keyMass): the kernel that turns the records
// generalKernel / combineKernel leave (Items::massP, massM, finalML) into per-key masses, and the
// host-side layout of those records. Included by general.cu and the emulator test after
// general.cuh.
#pragma once

#include <cstdint>

#include "general.cuh"

namespace attnflow {
namespace cudaimpl {
namespace gen {

// Key masses from the records of generalKernel (one block per generalKernel block): key k of the
// block gets sum over its rows r of P[r][k] * exp2(m_half(r, k) - M_r) / L_r, added atomically
// into keyMass. Pairs with P = 0 (masked, or underflowed) add nothing, so a NaN row never reaches
// a key it does not attend; an empty row (L = 0) adds nothing.
__global__ void __launch_bounds__(kThreads) massKernel(const KernelParams p, const Items items) {
  const int blk = blockIdx.x;
  const int split = blk % items.splits;
  const int64_t item = blk / items.splits;
  const Item it = decodeItem(p, items, item);
  const int64_t mrow = core::maskRow(p, it.h0, it.qb);
  const int64_t r0 = p.rowPtr[mrow], r1 = p.rowPtr[mrow + 1];
  const int ea = static_cast<int>(r0 + (r1 - r0) * split / items.splits);
  const int ez = static_cast<int>(r0 + (r1 - r0) * (split + 1) / items.splits);
  const int nkRec = (ez - ea) * kTileK;
  const float* recP = items.massP + items.massOff[blk] * kTileQ;
  const float* recM = items.massM + items.massOff[blk] / kHalf * kTileQ;
  const float* ml = items.finalML + item * 2 * kTileQ;
  float* km = p.keyMass + (static_cast<int64_t>(it.b) * p.Hkv + it.hk) * p.Sk;
  for (int kk = threadIdx.x; kk < nkRec; kk += kThreads) {
    const int key = p.colIdx[ea + kk / kTileK] * kTileK + kk % kTileK;
    if (key >= p.Sk) continue;
    float acc = 0.f;
    for (int r = 0; r < it.nrows; ++r) {
      const float pr = recP[static_cast<int64_t>(r) * nkRec + kk];
      const float L = ml[kTileQ + r];
      if (pr == 0.f || L == 0.f) continue;
      const float M = ml[r] == -INFINITY ? 0.f : ml[r];
      acc += pr * exp2f(recM[static_cast<int64_t>(r) * (nkRec / kHalf) + kk / kHalf] - M) / L;
    }
    if (acc != 0.f) atomicAdd(km + key, acc);  // NaN != 0 too
  }
}

// The key-slot offsets of the blocks' mass records (Items::massOff) from the host copy of the
// mask's rowPtr; returns the total number of key slots.
inline int64_t massOffsets(const KernelParams& p, const Items& items, int64_t count, const int32_t* hostRowPtr,
                           int64_t* off) {
  int64_t total = 0;
  for (int64_t blk = 0; blk < count * items.splits; ++blk) {
    const int split = static_cast<int>(blk % items.splits);
    const Item it = decodeItem(p, items, blk / items.splits);
    const int64_t mrow = core::maskRow(p, it.h0, it.qb);
    const int64_t r0 = hostRowPtr[mrow], r1 = hostRowPtr[mrow + 1];
    const int64_t ea = r0 + (r1 - r0) * split / items.splits, ez = r0 + (r1 - r0) * (split + 1) / items.splits;
    off[blk] = total;
    total += (ez - ea) * kTileK;
  }
  return total;
}

}  // namespace gen
}  // namespace cudaimpl
}  // namespace attnflow
