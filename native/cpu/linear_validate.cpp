// validateLinearAttention: the defensive check of a linear-attention call, shared by the CPU and
// CUDA entries. Shapes must agree, every reachable element of every view and gate buffer must lie
// inside its buffer, the state buffers must have exactly the state's size, the options must be in
// range. Gate *values* are checked in TypeScript (here only on the CPU path, by the kernel
// driver, since device memory cannot be read from the host cheaply).
#include <cmath>
#include <cstdint>
#include <string>

#include "attnflow.h"

namespace attnflow {
namespace {

std::string str(int64_t x) { return std::to_string(x); }

bool validDType(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

Status checkView(const char* name, const TensorView& v) {
  if (!validDType(v.dtype)) return Status::Error(std::string(name) + ".dtype is not a known dtype");
  bool empty = false;
  for (int a = 0; a < 4; ++a) {
    if (v.shape[a] < 0 || v.strides[a] < 0)
      return Status::Error(std::string(name) + ": shape and strides must be non-negative");
    if (v.shape[a] == 0) empty = true;
  }
  if (empty) return Status::Ok();
  uint64_t maxOffset = 0;
  for (int a = 0; a < 4; ++a) {
    uint64_t term = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(v.shape[a] - 1), static_cast<uint64_t>(v.strides[a]), &term) ||
        __builtin_add_overflow(maxOffset, term, &maxOffset))
      return Status::Error(std::string(name) + ": the largest reachable element offset overflows 64 bits");
  }
  if (maxOffset >= static_cast<uint64_t>(v.capacity))
    return Status::Error(std::string(name) + ": the view reaches element offset " + std::to_string(maxOffset) +
                         " but its buffer holds " + std::to_string(v.capacity) + " elements");
  if (v.data == nullptr) return Status::Error(std::string(name) + ".data is null but the view has elements");
  return Status::Ok();
}

}  // namespace

Status validateLinearAttention(const LinearAttentionParams& p) {
  for (auto [name, view] : {std::pair<const char*, const TensorView*>{"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"out", &p.out}}) {
    Status s = checkView(name, *view);
    if (!s.ok) return s;
  }
  const int64_t B = p.q.shape[0], Hq = p.q.shape[1], N = p.q.shape[2], Dk = p.q.shape[3];
  const int64_t Hkv = p.k.shape[1], Dv = p.v.shape[3];
  if (p.k.dtype != p.q.dtype || p.v.dtype != p.q.dtype || p.out.dtype != p.q.dtype)
    return Status::Error("q, k, v and out must share one dtype");
  if (p.k.shape[0] != B || p.v.shape[0] != B || p.out.shape[0] != B) return Status::Error("batch sizes differ");
  if (p.k.shape[2] != N || p.v.shape[2] != N || p.out.shape[2] != N) return Status::Error("sequence lengths differ");
  if (p.k.shape[3] != Dk) return Status::Error("k's headDim (" + str(p.k.shape[3]) + ") differs from q's (" + str(Dk) + ")");
  if (p.v.shape[1] != Hkv) return Status::Error("v's heads differ from k's");
  if (Hkv < 1 || Hq % Hkv != 0) return Status::Error("q's heads must be a multiple of k's heads");
  if (p.out.shape[1] != Hq || p.out.shape[3] != Dv) return Status::Error("out must be [B, Hq, N, Dv]");
  if (Dk < 1 || Dv < 1) return Status::Error("headDim must be >= 1");
  if (Dk > 4096 || Dv > 4096) return Status::Error("headDim above 4096 is not supported");
  if (p.chunk < 1 || p.chunk > 256) return Status::Error("chunk must be in [1, 256] (got " + str(p.chunk) + ")");
  if (!(p.eps >= 0.f) || !std::isfinite(p.eps)) return Status::Error("eps must be finite and >= 0");

  int64_t Df = Dk;
  switch (p.featureMap) {
    case LinearFeatureMap::Identity:
    case LinearFeatureMap::Elu1:
    case LinearFeatureMap::Relu:
      break;
    case LinearFeatureMap::Favor:
      if (p.features < 1 || p.features > 65536) return Status::Error("favor features must be in [1, 65536]");
      Df = p.features;
      if (p.favorW == nullptr || p.favorWLen != static_cast<size_t>(Df * Dk))
        return Status::Error("favor weights must hold features x headDim = " + str(Df * Dk) + " values");
      break;
    default:
      return Status::Error("unknown feature map code " + str(static_cast<int32_t>(p.featureMap)));
  }

  switch (p.decay) {
    case LinearDecay::None:
      break;
    case LinearDecay::PerHead:
      if (p.decayHead == nullptr || p.decayHeadLen != static_cast<size_t>(Hq))
        return Status::Error("per-head decay must hold one value per query head (" + str(Hq) + ")");
      break;
    case LinearDecay::PerStep:
    case LinearDecay::PerStepFeature: {
      const bool perF = p.decay == LinearDecay::PerStepFeature;
      const int64_t ext[4] = {B, Hq, N, perF ? Df : 1};
      uint64_t maxOffset = 0;
      bool empty = false;
      for (int a = 0; a < 4; ++a) {
        if (p.gateStrides[a] < 0) return Status::Error("gate strides must be non-negative");
        if (ext[a] == 0) empty = true;
      }
      if (empty) break;
      for (int a = 0; a < 4; ++a) {
        uint64_t term = 0;
        if (__builtin_mul_overflow(static_cast<uint64_t>(ext[a] - 1), static_cast<uint64_t>(p.gateStrides[a]), &term) ||
            __builtin_add_overflow(maxOffset, term, &maxOffset))
          return Status::Error("gate offsets overflow 64 bits");
      }
      if (p.gates == nullptr || maxOffset >= p.gatesLen)
        return Status::Error("the gates reach element offset " + std::to_string(maxOffset) + " but their buffer holds " +
                             std::to_string(p.gatesLen) + " values");
      break;
    }
    default:
      return Status::Error("unknown decay code " + str(static_cast<int32_t>(p.decay)));
  }

  const size_t sLen = static_cast<size_t>(B * Hq * Df * Dv), zLen = static_cast<size_t>(B * Hq * Df);
  if ((p.initS == nullptr) != (p.initZ == nullptr)) return Status::Error("initial S and z must be given together");
  if (p.initS && (p.initSLen != sLen || p.initZLen != zLen))
    return Status::Error("initial state must be S [B, Hq, Df, Dv] (" + std::to_string(sLen) + " values) and z [B, Hq, Df] (" +
                         std::to_string(zLen) + " values)");
  if ((p.stateS == nullptr) != (p.stateZ == nullptr)) return Status::Error("state S and z outputs must be given together");
  if (p.stateS && (p.stateSLen != sLen || p.stateZLen != zLen))
    return Status::Error("state outputs must be S [B, Hq, Df, Dv] (" + std::to_string(sLen) + " values) and z [B, Hq, Df] (" +
                         std::to_string(zLen) + " values)");
  return Status::Ok();
}

}  // namespace attnflow
