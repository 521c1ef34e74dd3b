// cpuAttentionForward, in named stages: pick the kernel (isa.h), resolve the call (native/core),
// plan it for the kernel (plan.cpp), cut it into work items (schedule.cpp), run the items on the
// shared thread pool, and merge the rows that were split across items.
//
// NaN / ±inf in q, k, v follow IEEE evaluation of the naive formula over each row's allowed keys,
// split rows included (a NaN part makes the merged row NaN, an empty part adds nothing): see the
// head of kernel_body.h.
#include <algorithm>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "attnflow.h"
#include "isa.h"
#include "kernel.h"
#include "plan.h"
#include "scratch.h"
#include "thread_pool.h"

namespace attnflow {

TileShape cpuTileShape() { return TileShape{cpu::kBQ, cpu::kBK}; }

namespace cpu {

unsigned poolThreads() { return ThreadPool::instance().threads(); }

namespace {

Scratch threadScratch(const Plan& P) { return carveScratch(threadScratchFloats(scratchFloats(P.D, P.Dp)), P.D, P.Dp); }

// Where item `it` keeps its key-mass record: its slot's part of massParts when its row is split
// (mergeRow reads it), else this thread's own buffer, kept between calls.
float* massRecord(const Plan& P, const Item& it) {
  if (it.slot >= 0) return P.massParts + P.massOffset[it.slot];
  thread_local std::vector<float> record;
  const size_t need = massItemFloats(P, it);
  if (record.size() < need) record.resize(need);
  return record.data();
}

// Runs every item (in the schedule's order, a chain at a time), then merges the partial results of
// split rows. Cancellation: once `cancel` is set, the remaining items return at once (one relaxed
// load per item, none per tile), the merge pass is skipped and the call reports Cancelled.
Status runSchedule(const Plan& P, const Schedule& s, const AttentionKernel& kernel, ThreadPool& pool,
                   const CancelFlag* cancel) {
  std::vector<float> partials(static_cast<size_t>(s.slots) * partialStride(P.Dp));
  float* const partialData = partials.data();
  const size_t chains = s.chains.size() - 1;
  auto itemAt = [&](size_t k) -> const Item& { return s.items[s.order[k]]; };
  auto run = [&](size_t c, size_t nextChain) {
    for (size_t k = s.chains[c]; k < s.chains[c + 1]; ++k) {
      if (cancelRequested(cancel)) return;
      const Item& it = itemAt(k);
      Scratch S = threadScratch(P);
      if (P.keyMass) S.mass = massRecord(P, it);
      if (k + 1 < s.chains[c + 1]) S.next = &itemAt(k + 1);
      else if (nextChain != ThreadPool::kNone) S.next = &itemAt(s.chains[nextChain]);
      kernel.runItem(P, it, S, partialData);
    }
  };
  pool.parallelFor(chains, run);
  if (cancelRequested(cancel)) return Status::Cancelled();
  if (s.merges.empty()) return Status::Ok();
  auto merge = [&](size_t i) {
    if (!cancelRequested(cancel)) kernel.mergeRow(P, threadScratch(P), s.merges[i], partialData, s.mergeCount[i]);
  };
  pool.parallelFor(s.merges.size(), merge);
  return cancelRequested(cancel) ? Status::Cancelled() : Status::Ok();
}

Status forward(const AttentionParams& p) {
  const CpuKernel* kernel = nullptr;
  Status st = activeKernel(&kernel);
  if (!st.ok) return st;
  Plan P{};
  st = core::resolveAttention(p, cpuTileShape(), "the CPU kernel's", "cpuTileShape", &P);
  if (!st.ok) return st;
  if (P.keyMass) std::fill(P.keyMass, P.keyMass + p.keyMassLen, 0.f);  // the kernels add into it
  if (P.B == 0 || P.Sq == 0) return Status::Ok();

  ThreadPool& pool = ThreadPool::instance();
  PlanBuffers buffers;
  planCall(p, *kernel->attention, pool, P, buffers);
  if (cancelRequested(p.cancel)) return Status::Cancelled();
  const Schedule schedule = scheduleItems(P, pool.threads());
  std::vector<float> massParts(static_cast<size_t>(schedule.massFloats));
  P.massParts = massParts.data();
  P.massOffset = schedule.massOffset.data();
  return runSchedule(P, schedule, *kernel->attention, pool, p.cancel);
}

}  // namespace
}  // namespace cpu

Status cpuAttentionForward(const AttentionParams& p) {
  try {
    return cpu::forward(p);
  } catch (const std::bad_alloc&) {
    return Status::Error("cpuAttentionForward: out of memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("cpuAttentionForward: ") + e.what());
  } catch (...) {
    return Status::Error("cpuAttentionForward: unknown error");
  }
}

}  // namespace attnflow
