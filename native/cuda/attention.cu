// cudaAttentionForward: validates the call, prepares the kernels' parameter block (RoPE pre-pass,
// ALiBi slopes on the device), picks a kernel, launches on the device's stream and waits.
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

Status forward(const AttentionParams& p, const CudaMaskArrays& mask, int device) {
  Status st = validateAttention(p);
  if (!st.ok) return st;
  const BlockMaskView& mk = p.mask;
  if (mk.blockQ != kTileQ || mk.blockK != kTileK) {
    return Status::Error("mask tile shape " + std::to_string(mk.blockQ) + "x" + std::to_string(mk.blockK) +
                         " does not match the CUDA kernels' " + std::to_string(kTileQ) + "x" + std::to_string(kTileK) +
                         " (cudaTileShape)");
  }
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
  const std::string dn = deviceName(device);

  if (p.q.shape[0] == 0 || p.q.shape[2] == 0) return Status::Ok();  // nothing to compute
  if (p.q.shape[3] > kMaxGeneralHeadDim) {
    return Status::Error(dn + ": the CUDA backend supports head dims up to " + std::to_string(kMaxGeneralHeadDim) +
                         ", got " + std::to_string(p.q.shape[3]) + " (use backend 'cpu')");
  }
  KernelParams kp = kernelParams(p, mask);

  Temps temps(ctx);
  if (p.alibiSlopes != nullptr) {
    std::vector<float> slopes2(static_cast<size_t>(kp.Hq));
    for (int h = 0; h < kp.Hq; ++h) slopes2[h] = static_cast<float>(p.alibiSlopes[h] * kLog2e);
    void* d = nullptr;
    st = temps.alloc(slopes2.size() * sizeof(float), &d, "ALiBi slopes");
    if (!st.ok) return st;
    // From pageable memory: the call returns once the source has been staged.
    cudaError_t e = cudaMemcpyAsync(d, slopes2.data(), slopes2.size() * sizeof(float), cudaMemcpyHostToDevice,
                                    ctx.stream);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(dn + ": uploading ALiBi slopes: " + describeError("cudaMemcpyAsync", e));
    }
    kp.alibi2 = static_cast<const float*>(d);
  }

  // Explicit positions: device copies for the RoPE pre-pass and ALiBi.
  auto upload = [&](const int32_t* src, size_t n, const int32_t** dst, const char* what) -> Status {
    void* d = nullptr;
    Status s = temps.alloc(n * sizeof(int32_t), &d, what);
    if (!s.ok) return s;
    cudaError_t e = cudaMemcpyAsync(d, src, n * sizeof(int32_t), cudaMemcpyHostToDevice, ctx.stream);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(dn + ": uploading " + what + ": " + describeError("cudaMemcpyAsync", e));
    }
    *dst = static_cast<const int32_t*>(d);
    return Status::Ok();
  };
  if (p.queryPositions != nullptr) {
    st = upload(p.queryPositions, p.queryPositionsLen, &kp.qpos, "query positions");
    if (!st.ok) return st;
  }
  if (p.keyPositions != nullptr) {
    st = upload(p.keyPositions, p.keyPositionsLen, &kp.kpos, "key positions");
    if (!st.ok) return st;
    kp.kposStride = p.keyPositionsLen == static_cast<size_t>(kp.Hkv) * kp.Sk ? kp.Sk : 0;
  }

  const DType dtype = p.q.dtype;
  const size_t elt = dtypeSize(dtype);
  if (p.rope.enabled) {
    // Rotated copies of q and k, contiguous [B, H, S, D] in the input dtype.
    const int64_t D = kp.D;
    void* qr = nullptr;
    void* kr = nullptr;
    st = temps.alloc(static_cast<size_t>(kp.B) * kp.Hq * kp.Sq * D * elt, &qr, "RoPE copy of q");
    if (!st.ok) return st;
    st = temps.alloc(static_cast<size_t>(kp.B) * kp.Hkv * kp.Sk * D * elt, &kr, "RoPE copy of k");
    if (!st.ok) return st;
    st = launchRope(kp.q, dtype, kp.B, kp.Hq, kp.Sq, kp.D, kp.shift, p.rope, qr, ctx, kp.qpos, 0);
    if (!st.ok) return st;
    st = launchRope(kp.k, dtype, kp.B, kp.Hkv, kp.Sk, kp.D, 0, p.rope, kr, ctx, kp.kpos, kp.kposStride);
    if (!st.ok) return st;
    kp.q = Operand{qr, static_cast<int64_t>(kp.Hq) * kp.Sq * D, static_cast<int64_t>(kp.Sq) * D, D, 1};
    kp.k = Operand{kr, static_cast<int64_t>(kp.Hkv) * kp.Sk * D, static_cast<int64_t>(kp.Sk) * D, D, 1};
  }

  // Cancellation is checked between launches; a launched kernel runs to completion.
  if (cancelRequested(p.cancel)) return Status::Cancelled();
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
