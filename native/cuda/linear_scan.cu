// cudaLinearAttention: the chunked linear-attention scan (linear_scan.cuh) on device memory, on the
// device's stream and memory pool like attention (memory.cu): the small host arrays (favor
// weights, per-head decays) are uploaded into stream-ordered temporaries, per-step gates are
// checked on the device, the kernel is launched and the call waits for the stream.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "attnflow.h"
#include "internal.cuh"
#include "linear_scan.cuh"

namespace attnflow {
namespace cudaimpl {
namespace {

using lin::Geo;
using lin::ScanParams;

// Temporary device memory of one call, freed (stream-ordered) when it returns.
struct Scratch {
  DeviceContext& ctx;
  std::vector<void*> ptrs;
  explicit Scratch(DeviceContext& c) : ctx(c) {}
  ~Scratch() {
    for (void* p : ptrs) freeOnStream(ctx, p);
  }
  // `bytes` of device memory holding a copy of host `src` (uploaded on the stream), or null for
  // zero bytes.
  Status upload(const void* src, size_t bytes, void** out, const char* what) {
    *out = nullptr;
    if (bytes == 0) return Status::Ok();
    Status s = allocOnStream(ctx, bytes, out);
    if (!s.ok) return Status::Error(s.message + " (" + what + ")");
    ptrs.push_back(*out);
    if (src == nullptr) return Status::Ok();
    // From pageable memory: the call returns once the source has been staged.
    const cudaError_t e = cudaMemcpyAsync(*out, src, bytes, cudaMemcpyHostToDevice, ctx.stream);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(deviceName(ctx.device) + ": uploading " + what + ": " + describeError("cudaMemcpyAsync", e));
    }
    return Status::Ok();
  }
};

std::string prefix(int device) { return deviceName(device) + ": linear attention: "; }

// The chunk and value slice of a call (lin::planScan), or why its state does not fit.
Status chooseGeometry(const LinearAttentionParams& p, int64_t Df, const DeviceContext& ctx, Geo* geo, int* vs) {
  if (lin::planScan(p, Df, ctx.multiprocessors, ctx.smemOptin, 64, geo, vs)) return Status::Ok();
  return Status::Error(prefix(ctx.device) + "the state of Df=" + std::to_string(Df) +
                       ", headDim=" + std::to_string(p.q.shape[3]) + " does not fit in shared memory (" +
                       std::to_string(ctx.smemOptin) + " bytes per block)");
}

// Starts the check of every per-step gate (checkGatesKernel); *flag is the device word it
// writes, read by gateError once the stream has finished.
Status checkGates(const LinearAttentionParams& p, int64_t Df, Scratch& scratch, unsigned long long** flag) {
  *flag = nullptr;
  if (p.decay != LinearDecay::PerStep && p.decay != LinearDecay::PerStepFeature) return Status::Ok();
  const int64_t F = p.decay == LinearDecay::PerStepFeature ? Df : 1;
  const int64_t count = p.q.shape[0] * p.q.shape[1] * p.q.shape[2] * F;
  if (count == 0) return Status::Ok();
  const unsigned long long none = ~0ull;
  void* d = nullptr;
  Status st = scratch.upload(&none, sizeof none, &d, "the gate check");
  if (!st.ok) return st;
  *flag = static_cast<unsigned long long*>(d);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((count + 255) / 256, 1024));
  lin::checkGatesKernel<<<blocks, 256, 0, scratch.ctx.stream>>>(
      p.gates, p.gateStrides[0], p.gateStrides[1], p.gateStrides[2], p.gateStrides[3], static_cast<int>(p.q.shape[1]),
      static_cast<int>(p.q.shape[2]), static_cast<int>(F), count, *flag);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return Status::Error(prefix(scratch.ctx.device) + "launching the gate check: " + describeError("<<<>>>", e));
  return Status::Ok();
}

// After the stream has finished: the error naming the first gate outside (0, 1], if any.
Status gateError(const LinearAttentionParams& p, int64_t Df, const unsigned long long* flag, DeviceContext& ctx) {
  if (flag == nullptr) return Status::Ok();
  unsigned long long first = 0;
  Status st = cudaCopyDeviceToHost(ctx.device, &first, flag, sizeof first);
  if (!st.ok) return st;
  if (first == ~0ull) return Status::Ok();
  const bool perF = p.decay == LinearDecay::PerStepFeature;
  const int64_t F = perF ? Df : 1, N = p.q.shape[2], Hq = p.q.shape[1];
  const int64_t i = static_cast<int64_t>(first);
  const int64_t f = i % F, n = (i / F) % N, h = (i / F / N) % Hq, b = i / F / N / Hq;
  float g = 0.f;
  cudaCopyDeviceToHost(ctx.device, &g,
                       p.gates + b * p.gateStrides[0] + h * p.gateStrides[1] + n * p.gateStrides[2] + f * p.gateStrides[3],
                       sizeof g);
  return Status::Error("decay gate [" + std::to_string(b) + ", " + std::to_string(h) + ", " + std::to_string(n) +
                       (perF ? ", " + std::to_string(f) : std::string()) + "] is " + std::to_string(g) +
                       "; gates must be in (0, 1]");
}

Status run(const LinearAttentionParams& p, int device) {
  Status st = validateLinearAttention(p);
  if (!st.ok) return st;
  const int64_t B = p.q.shape[0], Hq = p.q.shape[1], N = p.q.shape[2], Dk = p.q.shape[3], Dv = p.v.shape[3];
  const int64_t Df = p.featureMap == LinearFeatureMap::Favor ? p.features : Dk;
  DeviceContext* ctxp = nullptr;
  st = deviceContext(device, &ctxp, "cannot run linear attention");
  if (!st.ok) return st;
  DeviceContext& ctx = *ctxp;
  if (Df > 256) {
    return Status::Error(prefix(device) + "Df (features per head) above 256 is not supported (got " +
                         std::to_string(Df) + ")");
  }
  if (N > 0x7fffffffLL || B * Hq > 0x7fffffffLL) return Status::Error(prefix(device) + "sequence or batch x heads too large");
  if (B * Hq == 0) return Status::Ok();

  Geo geo{};
  int VS = 0;
  st = chooseGeometry(p, Df, ctx, &geo, &VS);
  if (!st.ok) return st;
  ScanParams k = lin::scanParams(p, Df, geo);
  Scratch scratch(ctx);
  void* d = nullptr;
  if (p.featureMap == LinearFeatureMap::Favor) {
    if (!(st = scratch.upload(p.favorW, p.favorWLen * sizeof(float), &d, "favor weights")).ok) return st;
    k.W = static_cast<const float*>(d);
  }
  if (p.decay == LinearDecay::PerHead) {
    if (!(st = scratch.upload(p.decayHead, p.decayHeadLen * sizeof(float), &d, "per-head decays")).ok) return st;
    k.decayHead = static_cast<const float*>(d);
  }
  unsigned long long* flag = nullptr;
  if (!(st = checkGates(p, Df, scratch, &flag)).ok) return st;
  if (cancelRequested(p.cancel)) return Status::Cancelled();  // checked between launches

  const size_t bytes = geo.floats * sizeof(float);
  cudaError_t e =
      cudaFuncSetAttribute(lin::linearScanKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(prefix(device) + describeError("cudaFuncSetAttribute", e));
  }
  const dim3 grid(static_cast<unsigned>(B * Hq), static_cast<unsigned>((Dv + VS - 1) / VS));
  lin::linearScanKernel<<<grid, lin::kThreads, bytes, ctx.stream>>>(k);
  e = cudaGetLastError();
  if (e != cudaSuccess) return Status::Error(prefix(device) + "launching the scan: " + describeError("<<<>>>", e));
  st = waitStream(ctx, "running linear attention");
  if (!st.ok) return st;
  return gateError(p, Df, flag, ctx);
}

}  // namespace
}  // namespace cudaimpl

Status cudaLinearAttention(const LinearAttentionParams& p, int device) {
  try {
    return cudaimpl::run(p, device);
  } catch (const std::bad_alloc&) {
    return Status::Error("cudaLinearAttention: out of host memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("cudaLinearAttention: ") + e.what());
  } catch (...) {
    return Status::Error("cudaLinearAttention: unknown error");
  }
}

}  // namespace attnflow
