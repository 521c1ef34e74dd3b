// cpuLinearAttention: validates the call, resolves it into a LinPlan for the CPU kernel in use
// (isa.h: the same kernel the attention backend runs), and runs one work item per (batch, query
// head) on the shared thread pool.
// Each item scans its whole sequence chunk by chunk (linear_body.h), its state in per-thread
// scratch (O(Df·Dv + C·(Dk + Df + Dv + C)) floats, nothing sized by the sequence length).
#include <cmath>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "attnflow.h"
#include "isa.h"
#include "linear_kernel.h"
#include "scratch.h"
#include "thread_pool.h"

namespace attnflow {

namespace {

using cpu::linear::LinPlan;
using cpu::linear::roundUp;

bool goodGamma(float g) { return g > 0.f && g <= 1.f; }

// Gate values are validated in TypeScript; checked again here because the kernel's products
// assume them (a bad call from JS must fail cleanly, not produce silent garbage).
Status checkGates(const LinearAttentionParams& p, int64_t B, int64_t Hq, int64_t N, int64_t Df) {
  if (p.decay == LinearDecay::PerHead) {
    for (int64_t h = 0; h < Hq; ++h)
      if (!goodGamma(p.decayHead[h]))
        return Status::Error("decay of head " + std::to_string(h) + " is " + std::to_string(p.decayHead[h]) +
                             "; it must be in (0, 1]");
  } else if (p.decay == LinearDecay::PerStep || p.decay == LinearDecay::PerStepFeature) {
    const int64_t F = p.decay == LinearDecay::PerStepFeature ? Df : 1;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t f = 0; f < F; ++f) {
            const float g = p.gates[b * p.gateStrides[0] + h * p.gateStrides[1] + n * p.gateStrides[2] + f * p.gateStrides[3]];
            if (!goodGamma(g))
              return Status::Error("decay gate [" + std::to_string(b) + ", " + std::to_string(h) + ", " + std::to_string(n) +
                                   (F > 1 ? ", " + std::to_string(f) : std::string()) + "] is " + std::to_string(g) +
                                   "; gates must be in (0, 1]");
          }
  }
  return Status::Ok();
}

Status run(const LinearAttentionParams& p) {
  Status st = validateLinearAttention(p);
  if (!st.ok) return st;
  const int64_t B = p.q.shape[0], Hq = p.q.shape[1], N = p.q.shape[2], Dk = p.q.shape[3];
  const int64_t Hkv = p.k.shape[1], Dv = p.v.shape[3];
  const int64_t Df = p.featureMap == LinearFeatureMap::Favor ? p.features : Dk;
  if (N > 0x7fffffffLL || B * Hq > 0x7fffffffLL) return Status::Error("sequence or batch x heads too large");
  st = checkGates(p, B, Hq, N, Df);
  if (!st.ok) return st;
  const cpu::CpuKernel* kernel = nullptr;
  st = cpu::activeKernel(&kernel);
  if (!st.ok) return st;
  const int32_t lanes = kernel->linear->lanes;

  LinPlan lp{};
  lp.B = static_cast<int32_t>(B);
  lp.Hq = static_cast<int32_t>(Hq);
  lp.Hkv = static_cast<int32_t>(Hkv);
  lp.N = static_cast<int32_t>(N);
  lp.Dk = static_cast<int32_t>(Dk);
  lp.Dv = static_cast<int32_t>(Dv);
  lp.Df = static_cast<int32_t>(Df);
  lp.group = static_cast<int32_t>(Hq / Hkv);
  lp.C = p.chunk;
  lp.lanes = lanes;
  lp.Dkp = roundUp(lp.Dk, lanes);
  lp.Fp = roundUp(lp.Df, lanes);
  lp.Vp = roundUp(lp.Dv, lanes);
  lp.Cp = roundUp(lp.C, lanes);
  lp.dtype = p.q.dtype;
  auto in = [](const TensorView& t) {
    return cpu::linear::In{t.data, t.strides[0], t.strides[1], t.strides[2], t.strides[3]};
  };
  lp.q = in(p.q);
  lp.k = in(p.k);
  lp.v = in(p.v);
  lp.out = p.out.data;
  lp.osb = p.out.strides[0];
  lp.osh = p.out.strides[1];
  lp.oss = p.out.strides[2];
  lp.osd = p.out.strides[3];
  lp.featureMap = p.featureMap;
  std::vector<float> wT;
  if (p.featureMap == LinearFeatureMap::Favor) {
    wT.assign(static_cast<size_t>(Dk) * lp.Fp, 0.f);
    for (int64_t f = 0; f < Df; ++f)
      for (int64_t d = 0; d < Dk; ++d) wT[static_cast<size_t>(d * lp.Fp + f)] = p.favorW[f * Dk + d];
    lp.favorWT = wT.data();
    lp.favorScale = static_cast<float>(std::pow(static_cast<double>(Dk), -0.25));
    lp.favorNorm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Df)));
  }
  lp.decay = p.decay;
  lp.decayHead = p.decayHead;
  lp.gates = p.gates;
  for (int a = 0; a < 4; ++a) lp.gs[a] = p.gateStrides[a];
  lp.normalize = p.normalize;
  lp.eps = p.eps;
  lp.initS = p.initS;
  lp.initZ = p.initZ;
  lp.stateS = p.stateS;
  lp.stateZ = p.stateZ;
  lp.cancel = p.cancel;

  const size_t items = static_cast<size_t>(B * Hq);
  if (items == 0) return Status::Ok();
  const cpu::linear::LinRunHeadFn runHead = kernel->linear->runHead;
  const size_t floats = cpu::linear::linScratchFloats(lp);
  auto body = [&](size_t i) {
    const int32_t b = static_cast<int32_t>(i / static_cast<size_t>(Hq));
    const int32_t h = static_cast<int32_t>(i % static_cast<size_t>(Hq));
    runHead(lp, b, h, cpu::threadScratchFloats(floats));
  };
  cpu::ThreadPool::instance().parallelFor(items, body);
  return cancelRequested(p.cancel) ? Status::Cancelled() : Status::Ok();
}

}  // namespace

Status cpuLinearAttention(const LinearAttentionParams& p) {
  try {
    return run(p);
  } catch (const std::bad_alloc&) {
    return Status::Error("linear attention: out of memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("linear attention: ") + e.what());
  } catch (...) {
    return Status::Error("linear attention: unknown error");
  }
}

}  // namespace attnflow
