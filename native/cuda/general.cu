// Launchers of the general kernels (general.cuh): the float32 path, the decode path (split-KV
// plus combine, GQA head packing) and the fallback for 16-bit shapes the tensor-core kernel does
// not take; and the RoPE pre-pass.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnflow.h"
#include "general.cuh"
#include "general_mass.cuh"
#include "internal.cuh"

namespace attnflow {
namespace cudaimpl {
namespace {

using namespace gen;

// Largest device workspace the key-mass records of one call may take.
constexpr size_t kMaxMassBytes = static_cast<size_t>(1) << 30;

template <typename T>
Status launchGeneralT(const KernelParams& p, DeviceContext& ctx, const int32_t* hostRowPtr) {
  const std::string dn = deviceName(ctx.device);
  if (p.D < 1 || p.D > kMaxGeneralHeadDim) {
    return Status::Error(dn + ": the CUDA backend supports head dims up to " + std::to_string(kMaxGeneralHeadDim) +
                         ", got " + std::to_string(p.D) + " (use backend 'cpu')");
  }
  const size_t smem = generalSmemBytes(p.D);
  if (smem > ctx.smemOptin) {
    return Status::Error(dn + ": head dim " + std::to_string(p.D) + " needs " + std::to_string(smem) +
                         " bytes of shared memory per block, the device allows " + std::to_string(ctx.smemOptin));
  }
  cudaError_t e =
      cudaFuncSetAttribute(generalKernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(dn + ": " + describeError("cudaFuncSetAttribute", e));
  }

  int64_t count = 0;
  Items items = planItems(p, ctx.multiprocessors, &count);
  if (count <= 0) return Status::Ok();
  const int splits = items.splits;
  const int64_t blocks = count * splits;
  if (blocks > 0x7fffffff) return Status::Error(dn + ": too many query tiles for one launch");

  // Temporary device buffers, freed stream-ordered (after the kernels that use them).
  std::vector<void*> temps;
  struct Free {
    DeviceContext& ctx;
    std::vector<void*>& ptrs;
    ~Free() {
      for (void* q : ptrs) freeOnStream(ctx, q);
    }
  } freeAll{ctx, temps};
  auto alloc = [&](size_t bytes, const char* what) -> void* {
    void* ptr = nullptr;
    Status s = allocOnStream(ctx, bytes, &ptr);
    if (!s.ok) throw std::runtime_error(s.message + " (" + what + ")");
    if (ptr != nullptr) temps.push_back(ptr);
    return ptr;
  };
  try {
    if (splits > 1) items.ws = static_cast<float*>(alloc(static_cast<size_t>(blocks) * kTileQ * (p.D + 2) * sizeof(float), "split-KV workspace"));
    if (p.keyMass != nullptr) {
      std::vector<int64_t> off(static_cast<size_t>(blocks));
      const int64_t slots = massOffsets(p, items, count, hostRowPtr, off.data());
      const size_t recBytes = static_cast<size_t>(slots) * kTileQ * sizeof(float);
      if (recBytes > kMaxMassBytes) {
        return Status::Error(dn + ": returnKeyMass needs " + std::to_string(recBytes >> 20) +
                             " MiB of device workspace for this call (query rows x visited keys); split the queries "
                             "into smaller calls");
      }
      items.massP = static_cast<float*>(alloc(recBytes, "key-mass records"));
      items.massM = static_cast<float*>(alloc(recBytes / kHalf + sizeof(float), "key-mass records"));
      items.finalML = static_cast<float*>(alloc(static_cast<size_t>(count) * 2 * kTileQ * sizeof(float), "key-mass records"));
      void* offDev = alloc(off.size() * sizeof(int64_t), "key-mass offsets");
      e = cudaMemcpyAsync(offDev, off.data(), off.size() * sizeof(int64_t), cudaMemcpyHostToDevice, ctx.stream);
      if (e == cudaSuccess) e = cudaMemsetAsync(p.keyMass, 0, static_cast<size_t>(p.B) * p.Hkv * p.Sk * sizeof(float), ctx.stream);
      if (e != cudaSuccess) {
        cudaGetLastError();
        return Status::Error(dn + ": preparing key masses: " + describeError("cudaMemcpyAsync", e));
      }
      // the pageable copy above returns once `off` is staged, so it may go out of scope
      items.massOff = static_cast<const int64_t*>(offDev);
    }
  } catch (const std::runtime_error& err) {
    return Status::Error(err.what());
  }
  generalKernel<T><<<static_cast<unsigned>(blocks), kThreads, smem, ctx.stream>>>(p, items);
  e = cudaGetLastError();
  if (e == cudaSuccess && splits > 1) {
    combineKernel<T><<<static_cast<unsigned>(count), kThreads, 0, ctx.stream>>>(p, items);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess && p.keyMass != nullptr) {
    massKernel<<<static_cast<unsigned>(blocks), kThreads, 0, ctx.stream>>>(p, items);
    e = cudaGetLastError();
  }
  if (e != cudaSuccess) return Status::Error(dn + ": launching the attention kernel: " + describeError("<<<>>>", e));
  return Status::Ok();
}

template <typename T>
Status launchRopeT(const Operand& src, int B, int H, int S, int D, int64_t posShift, const RopeParams& rope, void* dst,
                   const DeviceContext& ctx, const int32_t* positions, int64_t posStride) {
  const int64_t rows = static_cast<int64_t>(B) * H * S;
  if (rows == 0 || D == 0) return Status::Ok();
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 65535LL * 16));
  ropeKernel<T><<<grid, 128, 0, ctx.stream>>>(src, B, H, S, D, posShift, rope.dims, rope.interleaved,
                                              std::log2(static_cast<double>(rope.base)), rope.offset,
                                              static_cast<T*>(dst), positions, posStride);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    return Status::Error(deviceName(ctx.device) + ": launching the RoPE pre-pass: " + describeError("<<<>>>", e));
  }
  return Status::Ok();
}

}  // namespace

Status launchGeneral(const KernelParams& p, DType dtype, DeviceContext& ctx, const int32_t* hostRowPtr) {
  switch (dtype) {
    case DType::F32: return launchGeneralT<float>(p, ctx, hostRowPtr);
    case DType::F16: return launchGeneralT<__half>(p, ctx, hostRowPtr);
    case DType::BF16: return launchGeneralT<__nv_bfloat16>(p, ctx, hostRowPtr);
  }
  return Status::Error("unknown dtype");
}

Status launchRope(const Operand& src, DType dtype, int B, int H, int S, int D, int64_t posShift,
                  const RopeParams& rope, void* dst, const DeviceContext& ctx, const int32_t* positions,
                  int64_t posStride) {
  switch (dtype) {
    case DType::F32: return launchRopeT<float>(src, B, H, S, D, posShift, rope, dst, ctx, positions, posStride);
    case DType::F16: return launchRopeT<__half>(src, B, H, S, D, posShift, rope, dst, ctx, positions, posStride);
    case DType::BF16:
      return launchRopeT<__nv_bfloat16>(src, B, H, S, D, posShift, rope, dst, ctx, positions, posStride);
  }
  return Status::Error("unknown dtype");
}

}  // namespace cudaimpl
}  // namespace attnflow
