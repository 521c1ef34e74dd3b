// Launching the tensor-core kernel (fa2_kernel.cuh) on a device's stream: one instantiation per
// dtype (fa2_f16.cu, fa2_bf16.cu, compiled in parallel) and head dim (64, 128).
#pragma once

#include <string>

#include "fa2_kernel.cuh"

namespace attnflow {
namespace cudaimpl {
namespace fa2 {

template <typename T, int D>
Status launchOne(const KernelParams& p, const DeviceContext& ctx) {
  const size_t smem = smemBytes<D>();
  const std::string dn = deviceName(ctx.device);
  if (smem > ctx.smemOptin) {
    return Status::Error(dn + ": the tensor-core kernel needs " + std::to_string(smem) +
                         " bytes of shared memory per block, the device allows " + std::to_string(ctx.smemOptin));
  }
  cudaError_t e = cudaFuncSetAttribute(forwardKernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem));
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(dn + ": " + describeError("cudaFuncSetAttribute", e));
  }
  const int64_t blocks = static_cast<int64_t>(p.numQBlocks) * p.Hq * p.B;
  if (blocks <= 0) return Status::Ok();
  if (blocks > 0x7fffffff) return Status::Error(dn + ": too many query tiles for one launch");
  forwardKernel<T, D><<<static_cast<unsigned>(blocks), kThreads, smem, ctx.stream>>>(p);
  e = cudaGetLastError();
  if (e != cudaSuccess) return Status::Error(dn + ": launching the attention kernel: " + describeError("<<<>>>", e));
  return Status::Ok();
}

template <typename T>
Status launchForType(const KernelParams& p, const DeviceContext& ctx) {
  if (p.D == 64) return launchOne<T, 64>(p, ctx);
  if (p.D == 128) return launchOne<T, 128>(p, ctx);
  return Status::Error("the tensor-core kernel supports head dims 64 and 128, got " + std::to_string(p.D));
}

}  // namespace fa2
}  // namespace cudaimpl
}  // namespace attnflow
