// The attention forward of the WebAssembly build: an AttentionCall (calls.h) becomes the CPU
// backend's Plan, and each thread runs work items of it with the CPU kernel body, taking them in
// turn from a counter in the arena (lib/wasm/ runs this on several workers over one shared memory,
// as native/cpu/forward.cpp runs items on its thread pool). A call has three phases: the RoPE
// tables (one item per frequency), the work items, the split rows to merge.
#include <cmath>
#include <cstdint>

#include "calls.h"
#include "check.h"
#include "exports.h"
#include "kernels.h"

namespace attnflow {
namespace calls {
namespace {

constexpr double kLog2e = 1.4426950408889634;

using cpu::Item;
using cpu::Plan;

template <class T>
T* at(uint8_t* arena, uint32_t offset) {
  return offset ? reinterpret_cast<T*>(arena + offset) : nullptr;
}

cpu::OperandPlan operand(uint8_t* arena, uint32_t offset, DType t, int32_t s0, int32_t s1, int32_t s2, int32_t s3) {
  return cpu::OperandPlan{arena + offset, t, s0, s1, s2, s3};
}

// Column t of the RoPE tables: cos and sin of (pos + offset)·base^(−2t/dims) for pos in
// [ropeLo, Sk), as native/cpu/forward.cpp builds them (float64 angles; each block of 64 positions
// takes the exact sincos of its first angle and steps by the angle-addition formula).
void ropeColumn(const AttentionCall& c, uint8_t* arena, int t) {
  const int half = c.ropeDims / 2;
  float* cosT = reinterpret_cast<float*>(arena + c.ropeCos);
  float* sinT = reinterpret_cast<float*>(arena + c.ropeSin);
  const double inv = std::pow(static_cast<double>(c.ropeBase), -2.0 * t / c.ropeDims);
  double stepC[64], stepS[64];
  for (int r = 0; r < 64; ++r) {
    stepC[r] = std::cos(r * inv);
    stepS[r] = std::sin(r * inv);
  }
  for (int64_t p0 = c.ropeLo; p0 < c.Sk; p0 += 64) {
    const double a0 = static_cast<double>(p0 + c.ropeOffset) * inv;
    const double c0 = std::cos(a0), s0 = std::sin(a0);
    const int64_t n = c.Sk - p0 < 64 ? c.Sk - p0 : 64;
    for (int64_t r = 0; r < n; ++r) {
      const size_t at = static_cast<size_t>(p0 - c.ropeLo + r) * half + t;
      cosT[at] = static_cast<float>(c0 * stepC[r] - s0 * stepS[r]);
      sinT[at] = static_cast<float>(s0 * stepC[r] + c0 * stepS[r]);
    }
  }
}

// The kernels' Plan: the record's shapes and regions, completed as native/cpu/forward.cpp completes
// a native call (scores in log2 units, head dimension padded to the lanes).
Plan planOf(const AttentionCall& c, uint8_t* arena) {
  Plan P{};
  P.B = c.B;
  P.Hq = c.Hq;
  P.Hkv = c.Hkv;
  P.Sq = c.Sq;
  P.Sk = c.Sk;
  P.D = c.D;
  P.group = c.Hq / c.Hkv;
  P.shift = static_cast<int64_t>(c.Sk) - c.Sq;
  const DType t = static_cast<DType>(c.dtype);
  P.q = operand(arena, c.q, t, c.qS0, c.qS1, c.qS2, c.qS3);
  P.k = operand(arena, c.k, t, c.kS0, c.kS1, c.kS2, c.kS3);
  P.v = operand(arena, c.v, t, c.vS0, c.vS1, c.vS2, c.vS3);
  P.out = arena + c.out;
  P.outType = t;
  P.osb = c.outS0;
  P.osh = c.outS1;
  P.oss = c.outS2;
  P.osd = c.outS3;
  P.lse = at<float>(arena, c.lse);
  P.rowPtr = at<const int32_t>(arena, c.rowPtr);
  P.colIdx = at<const int32_t>(arena, c.colIdx);
  P.partial = at<const int32_t>(arena, c.partial);
  P.bits = at<const uint32_t>(arena, c.bits);
  P.maskHeads = c.maskHeads;
  P.numQBlocks = c.numQBlocks;
  P.numKBlocks = c.numKBlocks;
  P.wordsPerRow = c.wordsPerRow;
  P.softcap = c.softcap > 0.f;
  P.qScale = static_cast<float>(P.softcap ? static_cast<double>(c.scale) : c.scale * kLog2e);
  P.capInv = P.softcap ? static_cast<float>(1.0 / c.softcap) : 0.f;
  P.capOut = P.softcap ? static_cast<float>(c.softcap * kLog2e) : 0.f;
  P.alibi2 = at<const float>(arena, c.alibi2);
  P.Dp = cpu::simd128::paddedHeadDim(c.D);
  P.rope = c.rope != 0;
  P.ropeInterleaved = c.ropeInterleaved != 0;
  P.ropeDims = c.ropeDims;
  P.ropeLo = c.ropeLo;
  P.ropeCos = at<const float>(arena, c.ropeCos);
  P.ropeSin = at<const float>(arena, c.ropeSin);
  P.kDirect = c.kDirect != 0;
  P.vDirect = c.vDirect != 0;
  return P;
}

}  // namespace
}  // namespace calls
}  // namespace attnflow

using namespace attnflow;

// Floats of one thread's scratch for head dimension D (64-byte aligned memory).
ATTNFLOW_EXPORT(af_attention_scratch_floats) uint32_t af_attention_scratch_floats(int32_t D) {
  return static_cast<uint32_t>(cpu::scratchFloats(D));
}

// Floats of one split row's partial result (the partials region holds partialSlots of them).
ATTNFLOW_EXPORT(af_attention_partial_floats) uint32_t af_attention_partial_floats(int32_t D) {
  return static_cast<uint32_t>(cpu::partialStride(cpu::simd128::paddedHeadDim(D)));
}

// Null when the call in the arena is well formed, else what is wrong with it.
ATTNFLOW_EXPORT(af_attention_check) const char* af_attention_check(uint8_t* arena) {
  return calls::checkAttention(arena);
}

// Runs phase 0 (the RoPE tables), 1 (the work items) or 2 (merging split rows) of a checked call:
// takes indices from *counter until none is left. Every thread of one phase shares the counter.
ATTNFLOW_EXPORT(af_attention_run)
void af_attention_run(uint8_t* arena, int32_t phase, int32_t* counter, float* scratch) {
  const calls::AttentionCall& c = *reinterpret_cast<const calls::AttentionCall*>(arena);
  const cpu::Plan P = calls::planOf(c, arena);
  const cpu::KernelTable& K = cpu::simd128Kernels();
  const cpu::Scratch S = cpu::carveScratch(scratch, c.D);
  float* partials = calls::at<float>(arena, c.partials);
  const int32_t n = phase == 0 ? (c.rope ? c.ropeDims / 2 : 0) : phase == 1 ? c.itemCount : c.mergeCount;
  const int32_t* cancel = calls::at<const int32_t>(arena, c.cancel);
  for (;;) {
    if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) break;  // the outputs are abandoned
    const int32_t i = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    if (i >= n) break;
    if (phase == 0) {
      calls::ropeColumn(c, arena, i);
    } else if (phase == 1) {
      const cpu::Item& it = calls::at<const cpu::Item>(arena, c.items)[i];
      K.runItem(P, it, S, partials);
    } else {
      const int32_t* m = calls::at<const int32_t>(arena, c.merges) + 8 * static_cast<size_t>(i);
      const cpu::Item first{m[0], m[1], m[2], m[3], m[4], m[5], m[6]};
      K.mergeRow(P, S, first, partials, m[7]);
    }
  }
}
