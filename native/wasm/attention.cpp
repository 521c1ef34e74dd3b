// The attention forward of the WebAssembly build: an AttentionCall (calls.h) becomes the CPU
// backend's Plan (the resolved call completed by plan_rules.h, as plan.cpp completes a native
// one), and each thread runs work items of it with the CPU kernel body (kernel_wasm.cpp), taking them in
// turn from a counter in the arena (lib/wasm/ runs this on several workers over one shared memory,
// as native/cpu/forward.cpp runs items on its thread pool). A call has three phases: the RoPE
// tables (one item per frequency), the work items, the split rows to merge.
#include <cstdint>

#include "calls.h"
#include "check.h"
#include "exports.h"
#include "kernels.h"
#include "plan_rules.h"
#include "positions.h"
#include "schedule.h"

namespace attnflow {
namespace calls {
namespace {

using cpu::Item;
using cpu::Plan;

template <class T>
T* at(uint8_t* arena, uint32_t offset) {
  return offset ? reinterpret_cast<T*>(arena + offset) : nullptr;
}

cpu::OperandPlan operand(uint8_t* arena, uint32_t offset, DType t, int32_t s0, int32_t s1, int32_t s2, int32_t s3) {
  return cpu::OperandPlan{arena + offset, t, s0, s1, s2, s3};
}

// The kernels' Plan: the record's shapes and regions as native/core/resolve.cpp resolves a native
// call, completed by plan_rules.h for the wasm kernel's lanes.
Plan planOf(const AttentionCall& c, uint8_t* arena) {
  Plan P = positionsPlan(c, arena);
  P.group = c.Hq / c.Hkv;
  P.keyMass = at<float>(arena, c.keyMass);
  P.massParts = at<float>(arena, c.massParts);
  P.massOffset = at<const int64_t>(arena, c.massOffsets);
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
  core::resolveScores(P, c.scale, c.softcap);
  P.alibi2 = at<const float>(arena, c.alibi);  // in log2 units since the call was checked
  P.rope = c.rope != 0;
  if (P.rope) {
    P.ropeInterleaved = c.ropeInterleaved != 0;
    P.ropeDims = c.ropeDims;
    P.ropeLo = cpu::ropeLow(P.shift);
    if (P.qpos || P.kpos) {
      P.ropeRowQ = at<const int32_t>(arena, c.ropeRowQ);
      P.ropeRowK = at<const int32_t>(arena, c.ropeRowK);
    }
    P.ropeCos = at<const float>(arena, c.ropeCos);
    P.ropeSin = at<const float>(arena, c.ropeSin);
  }
  cpu::finishPlan(P, cpu::wasm::kAttentionKernel.lanes);
  return P;
}

}  // namespace
}  // namespace calls
}  // namespace attnflow

using namespace attnflow;

namespace {

// The kernels' scratch of one thread, rounded to whole cache lines: the key-mass record of an item
// that owns its row follows it.
size_t kernelScratchFloats(int32_t D) { return (cpu::scratchFloats(D, cpu::wasm::paddedHeadDim(D)) + 15) & ~size_t{15}; }

}  // namespace

// Floats of one thread's scratch for the checked call in the arena (64-byte aligned memory).
ATTNFLOW_EXPORT(af_attention_scratch_floats) uint32_t af_attention_scratch_floats(const uint8_t* arena) {
  const calls::AttentionCall& c = *reinterpret_cast<const calls::AttentionCall*>(arena);
  return static_cast<uint32_t>(kernelScratchFloats(c.D) + (c.keyMass ? c.massScratch : 0));
}

// Floats of one split row's partial result (the partials region holds partialSlots of them).
ATTNFLOW_EXPORT(af_attention_partial_floats) uint32_t af_attention_partial_floats(int32_t D) {
  return static_cast<uint32_t>(cpu::partialStride(cpu::wasm::paddedHeadDim(D)));
}

// Floats of each RoPE table of a call of Sq queries at shift + i or qpos[i] (int32 [Sq], or null)
// and Sk keys at j or kpos[hk * kposStride + j] (int32 [kposLen], or null), rotating `dims`
// dimensions; 0 when the arguments disagree or the tables would not fit in 32-bit memory.
ATTNFLOW_EXPORT(af_attention_rope_floats)
uint32_t af_attention_rope_floats(const int32_t* qpos, const int32_t* kpos, int32_t kposLen, int32_t kposStride, int32_t Sq,
                                  int32_t Sk, int32_t Hkv, int32_t shift, int32_t dims) {
  if (dims < 2 || Sq < 0 || Sk < 0 || Hkv < 1 || (kposStride != 0 && (kposStride != Sk || !kpos))) return 0;
  if (kpos && kposLen < static_cast<int64_t>(kposStride ? Hkv : 1) * Sk) return 0;
  cpu::Plan P{};
  P.Sq = Sq;
  P.Sk = Sk;
  P.Hkv = Hkv;
  P.shift = shift;
  P.qpos = qpos;
  P.kpos = kpos;
  P.kposStride = kposStride;
  const int64_t floats = calls::ropeTableRows(P) * (dims / 2);
  return floats > (int64_t{1} << 30) ? 0 : static_cast<uint32_t>(floats);
}

// Null when the call in the arena is well formed, else what is wrong with it. A well-formed call is
// then made ready to run, once: its ALiBi slopes turned into log2 units in place (as
// core::alibiLog2 does for a native call) and its work cut into its regions (schedule.cpp).
ATTNFLOW_EXPORT(af_attention_check) const char* af_attention_check(uint8_t* arena) {
  if (const char* bad = calls::checkAttention(arena)) return bad;
  const calls::AttentionCall& c = *reinterpret_cast<const calls::AttentionCall*>(arena);
  if (float* slopes = calls::at<float>(arena, c.alibi))
    for (int32_t h = 0; h < c.Hq; ++h) slopes[h] = core::alibiSlopeLog2(slopes[h]);
  // the kernels add the key masses of their tiles into it (native/cpu/forward.cpp zeroes it too)
  if (float* km = calls::at<float>(arena, c.keyMass))
    for (int64_t x = 0, n = static_cast<int64_t>(c.B) * c.Hkv * c.Sk; x < n; ++x) km[x] = 0.f;
  if (c.rope && (c.qpos || c.kpos)) {
    calls::fillRopeRows(calls::positionsPlan(c, arena), calls::at<int32_t>(arena, c.ropeRowQ),
                        calls::at<int32_t>(arena, c.ropeRowK));
  }
  return calls::cutWork(arena);
}

// Runs phase 0 (the RoPE tables), 1 (the work items) or 2 (merging split rows) of a checked call:
// takes indices from *counter until none is left. Every thread of one phase shares the counter.
ATTNFLOW_EXPORT(af_attention_run)
void af_attention_run(uint8_t* arena, int32_t phase, int32_t* counter, float* scratch) {
  const calls::AttentionCall& c = *reinterpret_cast<const calls::AttentionCall*>(arena);
  const cpu::Plan P = calls::planOf(c, arena);
  const cpu::AttentionKernel& K = cpu::wasm::kAttentionKernel;
  cpu::Scratch S = cpu::carveScratch(scratch, c.D, P.Dp);
  float* const ownMass = scratch + kernelScratchFloats(c.D);  // see af_attention_scratch_floats
  float* partials = calls::at<float>(arena, c.partials);
  const int32_t n = phase == 0 ? (c.rope ? c.ropeDims / 2 : 0) : phase == 1 ? c.itemCount : c.mergeCount;
  const int32_t* cancel = calls::at<const int32_t>(arena, c.cancel);
  for (;;) {
    if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) break;  // the outputs are abandoned
    const int32_t i = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    if (i >= n) break;
    if (phase == 0) {
      calls::ropeColumn(P, c.ropeBase, c.ropeOffset, calls::at<float>(arena, c.ropeCos), calls::at<float>(arena, c.ropeSin), i);
    } else if (phase == 1) {
      const cpu::Item& it = calls::at<const cpu::Item>(arena, c.items)[i];
      // an item keeps its key-mass record in its slot's part of massParts when its row is split
      // (mergeRow reads it), else in this thread's scratch (as native/cpu/forward.cpp does)
      if (P.keyMass) S.mass = it.slot >= 0 ? P.massParts + P.massOffset[it.slot] : ownMass;
      K.runItem(P, it, S, partials);
    } else {
      const int32_t* m = calls::at<const int32_t>(arena, c.merges) + 8 * static_cast<size_t>(i);
      const cpu::Item first{m[0], m[1], m[2], m[3], m[4], m[5], m[6]};
      K.mergeRow(P, S, first, partials, m[7]);
    }
  }
}
