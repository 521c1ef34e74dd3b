// cudaAttentionForward: resolves the call (native/core), points it at the device copies of the
// mask, the ALiBi slopes and explicit positions, runs the RoPE pre-pass, picks a kernel, launches on the device's
// stream and waits.
//
// Kernel choice (ATTNFLOW_CUDA_KERNEL=auto|fa2|general overrides it, for tests):
//   float16 / bfloat16, head dim 64 or 128, seqQ > 16, aligned views -> the tensor-core kernel;
//   everything else (float32, decode, other head dims) -> the general float32-arithmetic kernel.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "attnflow.h"
#include "internal.cuh"

namespace attnflow {
namespace cudaimpl {

namespace {

// ATTNFLOW_CUDA_KERNEL: 0 auto, 1 fa2, 2 general. Read at every call, so a test can switch
// kernels between calls (by setting process.env).
int forcedKernel() {
  const char* e = std::getenv("ATTNFLOW_CUDA_KERNEL");
  if (e == nullptr) return 0;
  if (std::strcmp(e, "fa2") == 0) return 1;
  if (std::strcmp(e, "general") == 0) return 2;
  return 0;
}

// Temporary device buffers of one call, released (stream-ordered) when it returns.
struct Temps {
  DeviceContext& ctx;
  std::vector<void*> ptrs;
  explicit Temps(DeviceContext& c) : ctx(c) {}
  ~Temps() {
    for (void* p : ptrs) freeOnStream(ctx, p);
  }
  Status alloc(size_t bytes, void** out, const char* what) {
    Status s = allocOnStream(ctx, bytes, out);
    if (!s.ok) return Status::Error(s.message + " (" + what + ")");
    if (*out != nullptr) ptrs.push_back(*out);
    return Status::Ok();
  }
};

// The ALiBi slopes in log2 units, on the device (kp.alibi2).
Status uploadAlibi(const AttentionParams& p, KernelParams& kp, Temps& temps) {
  std::vector<float> slopes2(static_cast<size_t>(kp.Hq));
  core::alibiLog2(p, kp.Hq, slopes2.data());
  void* d = nullptr;
  Status st = temps.alloc(slopes2.size() * sizeof(float), &d, "ALiBi slopes");
  if (!st.ok) return st;
  // From pageable memory: the call returns once the source has been staged.
  cudaError_t e =
      cudaMemcpyAsync(d, slopes2.data(), slopes2.size() * sizeof(float), cudaMemcpyHostToDevice, temps.ctx.stream);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(deviceName(temps.ctx.device) + ": uploading ALiBi slopes: " + describeError("cudaMemcpyAsync", e));
  }
  kp.alibi2 = static_cast<const float*>(d);
  return Status::Ok();
}

// Explicit positions: device copies replace the host arrays the resolved call points at (for the
// RoPE pre-pass and ALiBi in the general kernel).
Status uploadPositions(const AttentionParams& p, KernelParams& kp, Temps& temps) {
  auto upload = [&](const int32_t* src, size_t n, const int32_t** dst, const char* what) -> Status {
    void* d = nullptr;
    Status s = temps.alloc(n * sizeof(int32_t), &d, what);
    if (!s.ok) return s;
    // From pageable memory: the call returns once the source has been staged.
    cudaError_t e = cudaMemcpyAsync(d, src, n * sizeof(int32_t), cudaMemcpyHostToDevice, temps.ctx.stream);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(deviceName(temps.ctx.device) + ": uploading " + what + ": " +
                           describeError("cudaMemcpyAsync", e));
    }
    *dst = static_cast<const int32_t*>(d);
    return Status::Ok();
  };
  kp.qpos = kp.kpos = nullptr;
  Status st;
  if (p.queryPositions != nullptr && !(st = upload(p.queryPositions, p.queryPositionsLen, &kp.qpos, "query positions")).ok) {
    return st;
  }
  if (p.keyPositions != nullptr && !(st = upload(p.keyPositions, p.keyPositionsLen, &kp.kpos, "key positions")).ok) {
    return st;
  }
  return Status::Ok();
}

// RoPE: rotated copies of q and k, contiguous [B, H, S, D] in the input dtype, replace them.
Status rotateQK(const AttentionParams& p, KernelParams& kp, Temps& temps) {
  const DType dtype = kp.q.dtype;
  const size_t elt = dtypeSize(dtype);
  const int64_t D = kp.D;
  void* qr = nullptr;
  void* kr = nullptr;
  Status st = temps.alloc(static_cast<size_t>(kp.B) * kp.Hq * kp.Sq * D * elt, &qr, "RoPE copy of q");
  if (!st.ok) return st;
  st = temps.alloc(static_cast<size_t>(kp.B) * kp.Hkv * kp.Sk * D * elt, &kr, "RoPE copy of k");
  if (!st.ok) return st;
  st = launchRope(kp.q, dtype, kp.B, kp.Hq, kp.Sq, kp.D, kp.shift, p.rope, qr, temps.ctx, kp.qpos, 0);
  if (!st.ok) return st;
  st = launchRope(kp.k, dtype, kp.B, kp.Hkv, kp.Sk, kp.D, 0, p.rope, kr, temps.ctx, kp.kpos, kp.kposStride);
  if (!st.ok) return st;
  kp.q = Operand{qr, dtype, static_cast<int64_t>(kp.Hq) * kp.Sq * D, static_cast<int64_t>(kp.Sq) * D, D, 1};
  kp.k = Operand{kr, dtype, static_cast<int64_t>(kp.Hkv) * kp.Sk * D, static_cast<int64_t>(kp.Sk) * D, D, 1};
  return Status::Ok();
}

Status forward(const AttentionParams& p, const CudaMaskArrays& mask, int device) {
  KernelParams kp{};
  Status st = core::resolveAttention(p, cudaTileShape(), "the CUDA kernels'", "cudaTileShape", &kp);
  if (!st.ok) return st;
  const BlockMaskView& mk = p.mask;
  if (mask.rowPtr == nullptr || (mk.nnz > 0 && (mask.colIdx == nullptr || mask.partial == nullptr)) ||
      (mk.bitsLen > 0 && mask.bits == nullptr)) {
    return Status::Error("the mask has no device copy");
  }
  if (p.q.dtype != p.k.dtype || p.q.dtype != p.v.dtype) {
    return Status::Error("q, k and v must share one dtype on the CUDA backend");
  }
  DeviceContext* ctxp = nullptr;
  st = deviceContext(device, &ctxp, "cannot run attention");
  if (!st.ok) return st;
  DeviceContext& ctx = *ctxp;

  if (kp.B == 0 || kp.Sq == 0) {  // nothing to compute; no query row gives any key mass
    if (kp.keyMass == nullptr || p.keyMassLen == 0) return Status::Ok();
    cudaError_t e = cudaMemsetAsync(kp.keyMass, 0, p.keyMassLen * sizeof(float), ctx.stream);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(deviceName(device) + ": zeroing key masses: " + describeError("cudaMemsetAsync", e));
    }
    return waitStream(ctx, "zeroing key masses");
  }
  if (kp.D > kMaxGeneralHeadDim) {
    return Status::Error(deviceName(device) + ": the CUDA backend supports head dims up to " +
                         std::to_string(kMaxGeneralHeadDim) + ", got " + std::to_string(kp.D) + " (use backend 'cpu')");
  }
  kp.rowPtr = mask.rowPtr;  // the kernels read the device copy of the mask
  kp.colIdx = mask.colIdx;
  kp.partial = mask.partial;
  kp.bits = mask.bits;

  Temps temps(ctx);
  if (!(st = uploadPositions(p, kp, temps)).ok) return st;
  if (p.alibiSlopes != nullptr && !(st = uploadAlibi(p, kp, temps)).ok) return st;
  if (p.rope.enabled && !(st = rotateQK(p, kp, temps)).ok) return st;

  // Cancellation is checked between launches; a launched kernel runs to completion.
  if (cancelRequested(p.cancel)) return Status::Cancelled();
  const DType dtype = kp.q.dtype;
  st = useFa2(kp, dtype, forcedKernel()) ? launchFa2(kp, dtype, ctx) : launchGeneral(kp, dtype, ctx, p.mask.rowPtr);
  if (!st.ok) {
    // Kernels already queued may still read the temporaries: their frees are stream-ordered.
    return st;
  }
  return waitStream(ctx, "running attention");
}

}  // namespace

Status launchFa2(const KernelParams& p, DType dtype, const DeviceContext& ctx) {
  return dtype == DType::F16 ? launchFa2F16(p, ctx) : launchFa2BF16(p, ctx);
}

}  // namespace cudaimpl

Status cudaAttentionForward(const AttentionParams& p, const CudaMaskArrays& mask, int device) {
  try {
    return cudaimpl::forward(p, mask, device);
  } catch (const std::bad_alloc&) {
    return Status::Error("cudaAttentionForward: out of host memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("cudaAttentionForward: ") + e.what());
  } catch (...) {
    return Status::Error("cudaAttentionForward: unknown error");
  }
}

}  // namespace attnflow
