// The linear-attention scan of the WebAssembly build: a LinearCall (calls.h) becomes the CPU
// backend's LinPlan, and each thread scans whole (batch, query head) sequences with the CPU kernel
// body (linear_wasm.cpp),
// taking them in turn from a counter in the arena (native/cpu/linear.cpp runs the same items on
// its thread pool).
#include <cstdint>

#include "calls.h"
#include "check.h"
#include "exports.h"
#include "kernels.h"

namespace attnflow {
namespace calls {
namespace {

using cpu::linear::In;
using cpu::linear::LinPlan;

template <class T>
T* at(uint8_t* arena, uint32_t offset) {
  return offset ? reinterpret_cast<T*>(arena + offset) : nullptr;
}

LinPlan planOf(const LinearCall& c, uint8_t* arena) {
  LinPlan lp{};
  lp.B = c.B;
  lp.Hq = c.Hq;
  lp.Hkv = c.Hkv;
  lp.N = c.N;
  lp.Dk = c.Dk;
  lp.Dv = c.Dv;
  lp.Df = c.Df;
  lp.group = c.Hq / c.Hkv;
  lp.C = c.chunk;
  cpu::linear::padToLanes(lp, cpu::wasm::kLinearKernel.lanes);
  lp.dtype = static_cast<DType>(c.dtype);
  lp.q = In{arena + c.q, c.qS0, c.qS1, c.qS2, c.qS3};
  lp.k = In{arena + c.k, c.kS0, c.kS1, c.kS2, c.kS3};
  lp.v = In{arena + c.v, c.vS0, c.vS1, c.vS2, c.vS3};
  lp.out = arena + c.out;
  lp.osb = c.outS0;
  lp.osh = c.outS1;
  lp.oss = c.outS2;
  lp.osd = c.outS3;
  lp.featureMap = static_cast<LinearFeatureMap>(c.featureMap);
  lp.favorWT = at<const float>(arena, c.favorWT);
  lp.favorScale = c.favorScale;
  lp.favorNorm = c.favorNorm;
  lp.decay = static_cast<LinearDecay>(c.decay);
  lp.decayHead = at<const float>(arena, c.decayHead);
  lp.gates = at<const float>(arena, c.gates);
  lp.gs[0] = c.gateS0;
  lp.gs[1] = c.gateS1;
  lp.gs[2] = c.gateS2;
  lp.gs[3] = c.gateS3;
  lp.normalize = c.normalize != 0;
  lp.eps = c.eps;
  lp.initS = at<const float>(arena, c.initS);
  lp.initZ = at<const float>(arena, c.initZ);
  lp.stateS = at<float>(arena, c.stateS);
  lp.stateZ = at<float>(arena, c.stateZ);
  // the int32 flag read as the kernel's CancelFlag (its first byte: 0 or 1, little-endian); the
  // kernel also checks it between chunks of a sequence
  lp.cancel = at<const CancelFlag>(arena, c.cancel);
  return lp;
}

}  // namespace
}  // namespace calls
}  // namespace attnflow

using namespace attnflow;

// Null when the call in the arena is well formed, else what is wrong with it.
ATTNFLOW_EXPORT(af_linear_check) const char* af_linear_check(uint8_t* arena) { return calls::checkLinear(arena); }

// Floats of one thread's scratch for the (checked) call in the arena.
ATTNFLOW_EXPORT(af_linear_scratch_floats) uint32_t af_linear_scratch_floats(uint8_t* arena) {
  const calls::LinearCall& c = *reinterpret_cast<const calls::LinearCall*>(arena);
  return static_cast<uint32_t>(cpu::linear::linScratchFloats(calls::planOf(c, arena)));
}

// Scans (batch, head) items B·Hq of a checked call, taking indices from *counter until none is left.
ATTNFLOW_EXPORT(af_linear_run) void af_linear_run(uint8_t* arena, int32_t* counter, float* scratch) {
  const calls::LinearCall& c = *reinterpret_cast<const calls::LinearCall*>(arena);
  const cpu::linear::LinPlan lp = calls::planOf(c, arena);
  const cpu::linear::LinearKernel& K = cpu::wasm::kLinearKernel;
  const int32_t n = c.B * c.Hq;
  for (;;) {
    if (lp.cancel && lp.cancel->load(std::memory_order_relaxed)) break;  // the outputs are abandoned
    const int32_t i = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    if (i >= n) break;
    K.runHead(lp, i / c.Hq, i % c.Hq, scratch);
  }
}
