// Internal interface of the CUDA backend: per-device state (stream, memory pool), error text,
// and the parameter block every attention kernel reads. Host-side declarations only, plus the
// plain structs the kernels take by value.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/call.h"
#include "attnflow.h"

// Dynamic shared memory of a kernel: `AF_DYNAMIC_SMEM(float, smem);` declares `smem` as the
// block's dynamic shared memory (in the host emulator of native/cuda/test/: the emulated block's).
#if defined(ATTNFLOW_CUDA_EMULATOR)
#define AF_DYNAMIC_SMEM(type, name) type* const name = reinterpret_cast<type*>(::emu::dynamicSmem())
#else
#define AF_DYNAMIC_SMEM(type, name) extern __shared__ __align__(128) type name[]
#endif

namespace attnflow {
namespace cudaimpl {

// The tile every CUDA kernel runs: masks are compiled for 64 query rows x 64 keys.
constexpr int kTileQ = 64;
constexpr int kTileK = 64;
// The general (float32-arithmetic) kernel keeps up to 8 output values per lane and row.
constexpr int kMaxGeneralHeadDim = 256;

// "cudaMallocAsync: out of memory (cudaErrorMemoryAllocation)"
std::string describeError(const char* call, cudaError_t err);
// "cuda:N"
std::string deviceName(int device);
// "1.50 GiB (1610612736 bytes)"
std::string describeBytes(uint64_t bytes);

// One device's state, created on first use and never destroyed (the CUDA runtime may already
// be torn down when static destructors run).
struct DeviceContext {
  int device = 0;
  cudaStream_t stream = nullptr;
  bool pools = false;          // stream-ordered memory pools supported
  cudaMemPool_t pool = nullptr;
  int multiprocessors = 1;
  int major = 0, minor = 0;
  size_t smemOptin = 0;        // cudaDevAttrMaxSharedMemoryPerBlockOptin
  size_t totalMemory = 0;
};

// Makes `device` current on the calling thread and returns its context (creating it on first
// use). Errors say why ("cuda:3: no device: this machine has 1 CUDA device", "cuda:0: no device
// (...)"); `what` is prefixed to the message ("cannot allocate 4096 bytes").
Status deviceContext(int device, DeviceContext** out, const std::string& what);

// Stream-ordered temporary memory on a context's stream (the context's device must be current).
Status allocOnStream(DeviceContext& ctx, size_t bytes, void** out);
void freeOnStream(DeviceContext& ctx, void* ptr);

// Blocks the calling thread (without spinning) until the work issued so far on the context's
// stream has finished; returns the first error the stream reports.
Status waitStream(DeviceContext& ctx, const char* what);

// --- the kernels' parameter block -----------------------------------------------------------

// Every attention kernel reads the call as resolved once for both native backends (native/core:
// shapes, strides, the mask's CSR, the score arithmetic in log2 units), with the mask and the
// ALiBi slopes pointing at device copies.
using Operand = core::Operand;
using KernelParams = core::AttentionCall;

// Where the tensor-core kernel (fa2_*.cu) applies: 16-bit q/k/v/out with headDim 64 or 128,
// contiguous headDim (sd == 1), other strides multiples of 8 elements, 16-byte aligned bases;
// out with osd == 1, even strides, 4-byte aligned.
inline bool fa2Supports(const KernelParams& p, DType dtype) {
  auto aligned = [](const void* ptr, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; };
  auto fits = [&](const Operand& o) {
    return o.sd == 1 && o.sb % 8 == 0 && o.sh % 8 == 0 && o.ss % 8 == 0 && aligned(o.data, 16);
  };
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (p.D != 64 && p.D != 128) return false;
  if (p.wordsPerRow != 2) return false;
  if (!fits(p.q) || (p.Sk > 0 && (!fits(p.k) || !fits(p.v)))) return false;
  if (p.osd != 1 || p.osb % 2 != 0 || p.osh % 2 != 0 || p.oss % 2 != 0 || !aligned(p.out, 4)) return false;
  return true;
}

// Which kernel runs a call: the tensor-core kernel where it applies and seqQ > 16 (decode goes
// to the general kernel's split-KV path); `forced` 1 = the tensor-core kernel wherever it
// applies, 2 = always the general kernel (ATTNFLOW_CUDA_KERNEL=fa2 / general).
inline bool useFa2(const KernelParams& p, DType dtype, int forced) {
  // explicit positions (ALiBi distances) and key masses: the general kernel
  if (p.qpos != nullptr || p.kpos != nullptr || p.keyMass != nullptr) return false;
  if (forced == 2 || !fa2Supports(p, dtype)) return false;
  return forced == 1 || p.Sq > 16;
}

Status launchFa2(const KernelParams& p, DType dtype, const DeviceContext& ctx);
Status launchFa2F16(const KernelParams& p, const DeviceContext& ctx);
Status launchFa2BF16(const KernelParams& p, const DeviceContext& ctx);

// The general kernel (general.cu): any dtype (float32 arithmetic), any strides, headDim <= 256,
// with split-KV and GQA head packing for short queries (decode). Allocates its workspace on the
// stream. `hostRowPtr` is the host copy of the mask's rowPtr (the key-mass records are laid out
// from it).
Status launchGeneral(const KernelParams& p, DType dtype, DeviceContext& ctx, const int32_t* hostRowPtr);

// RoPE pre-pass (general.cu): writes rope(x) for every (b, h, s) of `src` into `dst`, a
// contiguous [B, H, S, D] buffer of the same dtype. Position of row s of head h:
// positions[h * posStride + s] when `positions` (device) is given — a negative one leaves the row
// unrotated (an empty key slot) —, else s + posShift; the offset is added to either.
Status launchRope(const Operand& src, DType dtype, int B, int H, int S, int D, int64_t posShift,
                  const RopeParams& rope, void* dst, const DeviceContext& ctx, const int32_t* positions = nullptr,
                  int64_t posStride = 0);

}  // namespace cudaimpl
}  // namespace attnflow
