// The stages of one CPU attention call before the kernels run (forward.cpp strings them
// together): the plan (plan.cpp: the resolved call plus what the CPU kernels need) and the
// schedule (schedule.cpp: the work items and their order).
#pragma once

#include <cstdint>
#include <vector>

#include "attnflow.h"
#include "kernel.h"
#include "thread_pool.h"

namespace attnflow {
namespace cpu {

// Memory the plan points into; lives as long as the call.
struct PlanBuffers {
  std::vector<float> alibi2, ropeCos, ropeSin;
  std::vector<int32_t> ropeRowQ, ropeRowK;
  std::vector<uint64_t> bitsT;
  std::vector<uint8_t> vFinite;
  std::vector<float> kConverted, vConverted;
};

// Completes the plan of a resolved call (`P` holds the core::AttentionCall of `p`) for `kernel`:
// padding to its lanes, the query scale, ALiBi slopes in log2 units, RoPE tables (built on
// `pool`; rows for explicit positions), whether K and V tiles are read in place, whether its
// bf16 dot-product path applies, the per-call caches of partial tiles (Plan::bitsT, vFinite), and
// K / V converted once for the whole call where many query tiles would each convert them.
void planCall(const AttentionParams& p, const AttentionKernel& kernel, ThreadPool& pool, Plan& P,
              PlanBuffers& buffers);

// The work of one call cut into items (see Item): rows of the BlockMask grouped by (batch, kv
// head), heads of a GQA group packed for decoding, rows split across items when there are too
// few rows to keep `threads` threads busy.
struct Schedule {
  std::vector<Item> items;
  std::vector<uint32_t> order;      // the order items are handed to threads...
  std::vector<uint32_t> chains;     // ...in chains: chain c is order[chains[c] .. chains[c + 1])
  std::vector<Item> merges;         // the first item of each split row...
  std::vector<int32_t> mergeCount;  // ...and how many partial results it has
  int32_t slots = 0;                // partial results in all
  // Key masses only: where each slot's key-mass record starts in Plan::massParts, and its size.
  std::vector<int64_t> massOffset;
  int64_t massFloats = 0;
};
Schedule scheduleItems(const Plan& P, unsigned threads);

}  // namespace cpu
}  // namespace attnflow
