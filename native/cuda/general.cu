// Launchers of the general kernels (general.cuh): the float32 path, the decode path (split-KV
// plus combine, GQA head packing) and the fallback for 16-bit shapes the tensor-core kernel does
// not take; and the RoPE pre-pass.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "attnflow.h"
#include "general.cuh"
#include "internal.cuh"

namespace attnflow {
namespace cudaimpl {
namespace {

using namespace gen;

template <typename T>
Status launchGeneralT(const KernelParams& p, DeviceContext& ctx) {
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

  void* ws = nullptr;
  if (splits > 1) {
    Status s = allocOnStream(ctx, static_cast<size_t>(blocks) * kTileQ * (p.D + 2) * sizeof(float), &ws);
    if (!s.ok) return Status::Error(s.message + " (split-KV workspace)");
    items.ws = static_cast<float*>(ws);
  }
  generalKernel<T><<<static_cast<unsigned>(blocks), kThreads, smem, ctx.stream>>>(p, items);
  e = cudaGetLastError();
  if (e == cudaSuccess && splits > 1) {
    combineKernel<T><<<static_cast<unsigned>(count), kThreads, 0, ctx.stream>>>(p, items);
    e = cudaGetLastError();
  }
  if (ws != nullptr) freeOnStream(ctx, ws);  // stream-ordered: after the kernels that use it
  if (e != cudaSuccess) return Status::Error(dn + ": launching the attention kernel: " + describeError("<<<>>>", e));
  return Status::Ok();
}

template <typename T>
Status launchRopeT(const Operand& src, int B, int H, int S, int D, int64_t posShift, const RopeParams& rope, void* dst,
                   const DeviceContext& ctx) {
  const int64_t rows = static_cast<int64_t>(B) * H * S;
  if (rows == 0 || D == 0) return Status::Ok();
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 65535LL * 16));
  ropeKernel<T><<<grid, 128, 0, ctx.stream>>>(src, B, H, S, D, posShift, rope.dims, rope.interleaved,
                                              std::log2(static_cast<double>(rope.base)), rope.offset,
                                              static_cast<T*>(dst));
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    return Status::Error(deviceName(ctx.device) + ": launching the RoPE pre-pass: " + describeError("<<<>>>", e));
  }
  return Status::Ok();
}

}  // namespace

Status launchGeneral(const KernelParams& p, DType dtype, DeviceContext& ctx) {
  switch (dtype) {
    case DType::F32: return launchGeneralT<float>(p, ctx);
    case DType::F16: return launchGeneralT<__half>(p, ctx);
    case DType::BF16: return launchGeneralT<__nv_bfloat16>(p, ctx);
  }
  return Status::Error("unknown dtype");
}

Status launchRope(const Operand& src, DType dtype, int B, int H, int S, int D, int64_t posShift,
                  const RopeParams& rope, void* dst, const DeviceContext& ctx) {
  switch (dtype) {
    case DType::F32: return launchRopeT<float>(src, B, H, S, D, posShift, rope, dst, ctx);
    case DType::F16: return launchRopeT<__half>(src, B, H, S, D, posShift, rope, dst, ctx);
    case DType::BF16: return launchRopeT<__nv_bfloat16>(src, B, H, S, D, posShift, rope, dst, ctx);
  }
  return Status::Error("unknown dtype");
}

}  // namespace cudaimpl
}  // namespace attnflow
